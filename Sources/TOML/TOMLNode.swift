/// A value of a document together with where it is written.
public struct TOMLNode: Equatable, Sendable {
    /// The value.
    public var value: TOMLValue
    /// Where the value begins: its first character (the opening quote of a string, the `[`
    /// of an array, the `{` of an inline table). A table created by a `[header]` is at the
    /// header's `[`; a table created implicitly (the `a` of `[a.b]` or of `a.b = 1`) is
    /// where its key is first written; an element of an array of tables is at its `[[`.
    public var position: TOMLPosition

    public init(_ value: TOMLValue, at position: TOMLPosition) {
        self.value = value
        self.position = position
    }
}
