/// Identifies one party waiting for a reload's verdict (a control client, SIGHUP, ...).
public struct ReloadRequestID: Hashable, Sendable, CustomStringConvertible {
    public let value: Int
    public init(_ value: Int) { self.value = value }
    public var description: String { "#\(value)" }
}
