/// A bounded list of the most recent lines.
public struct RecentLines: Sendable {
    public let capacity: Int
    public private(set) var lines: [String] = []

    public init(capacity: Int) {
        self.capacity = capacity
    }

    public mutating func append(_ line: String) {
        if lines.count == capacity { lines.removeFirst() }
        lines.append(line)
    }
}
