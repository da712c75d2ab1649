/// A place in a TOML document, for messages that a user (and an editor jumping to
/// `PATH:LINE:COLUMN`) can follow.
///
/// Both numbers are 1-based. `column` counts Unicode scalars from the start of the line, so a
/// key after `é = 1` on the next line is still found where the user sees it; a tab counts as
/// one column. Lines end at LF (a CRLF pair is one line ending).
public struct TOMLPosition: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// 1-based line number.
    public var line: Int
    /// 1-based column, in Unicode scalars.
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// The start of a document.
    public static let start = TOMLPosition(line: 1, column: 1)

    public static func < (lhs: TOMLPosition, rhs: TOMLPosition) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }

    /// `line 3, column 9`.
    public var description: String { "line \(line), column \(column)" }
}
