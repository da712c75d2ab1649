/// A FIFO of log records with O(1) removal at the head.
struct RecordQueue {
    private var records: [[UInt8]] = []
    private var start = 0

    var isEmpty: Bool { start == records.count }
    var count: Int { records.count - start }
    var first: [UInt8]? { isEmpty ? nil : records[start] }

    mutating func append(_ record: [UInt8]) {
        records.append(record)
    }

    mutating func removeFirst() {
        records[start] = []
        start += 1
        if start == records.count {
            records.removeAll(keepingCapacity: records.count <= 4096)
            start = 0
        }
    }

    /// Gives the slots of removed records back once they are the larger part.
    mutating func compact() {
        guard start > 1024, start * 2 > records.count else { return }
        records.removeFirst(start)
        start = 0
    }
}
