public enum GracedVersion {
    public static let string = "0.1.0"
}
