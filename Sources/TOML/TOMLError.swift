/// Why a document is not valid TOML 1.0, and where.
///
/// The message is meant for the person who wrote the file: it says what was expected and
/// names the key involved (`expected '=' after key 'name'`); the description adds the
/// position (`line 3, column 9: expected '=' after key 'name'`).
public struct TOMLError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Where the problem was found.
    public var position: TOMLPosition
    /// What is wrong, without the position.
    public var message: String

    public init(position: TOMLPosition, message: String) {
        self.position = position
        self.message = message
    }

    /// `line 3, column 9: message`.
    public var description: String { "\(position): \(message)" }
}
