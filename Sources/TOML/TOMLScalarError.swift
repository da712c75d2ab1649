/// A malformed number or date/time; the parser adds the position.
struct TOMLScalarError: Error {
    var message: String

    init(_ message: String) {
        self.message = message
    }
}
