/// Why a listener could not be opened, worded for the operator.
public struct ListenerError: Error, Equatable, Sendable, CustomStringConvertible {
    public var listener: String
    public var address: String
    public var message: String

    public var description: String { "listener \(listener): cannot listen on \(address): \(message)" }
}
