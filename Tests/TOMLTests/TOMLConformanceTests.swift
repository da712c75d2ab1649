import TOML
import XCTest

/// The toml-test corpus (TOML 1.0.0 files): every valid document decodes to exactly its
/// tagged JSON, every invalid one is rejected.
final class TOMLConformanceTests: XCTestCase {
    private func corpusFiles() throws -> [String] {
        let list = TestFiles.corpus + "/files-toml-1.0.0"
        guard TestFiles.exists(list), let bytes = TestFiles.read(list) else {
            print("toml-test corpus not found at \(TestFiles.corpus): conformance tests skipped")
            throw XCTSkip("toml-test corpus not found at \(TestFiles.corpus)")
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func testValidDocuments() throws {
        let files = try corpusFiles().filter { $0.hasPrefix("valid/") && $0.hasSuffix(".toml") }
        var failures: [String] = []
        for file in files {
            let base = TestFiles.corpus + "/" + file
            guard let toml = TestFiles.read(base), let jsonBytes = TestFiles.read(String(base.dropLast(5)) + ".json") else {
                failures.append("\(file): unreadable")
                continue
            }
            do {
                let table = try TOMLDocument.parse(toml)
                let expected = try JSON.parse(String(decoding: jsonBytes, as: UTF8.self))
                if let difference = TaggedComparison.difference(.table(table), expected) {
                    failures.append("\(file): \(difference)")
                }
            } catch {
                failures.append("\(file): \(error)")
            }
        }
        print("toml-test valid: \(files.count - failures.count)/\(files.count) pass")
        XCTAssertGreaterThan(files.count, 0)
        XCTAssertEqual(failures, [], "\(failures.count) valid documents failed:\n" + failures.joined(separator: "\n"))
    }

    func testInvalidDocuments() throws {
        let files = try corpusFiles().filter { $0.hasPrefix("invalid/") && $0.hasSuffix(".toml") }
        var accepted: [String] = []
        for file in files {
            guard let toml = TestFiles.read(TestFiles.corpus + "/" + file) else {
                accepted.append("\(file): unreadable")
                continue
            }
            if (try? TOMLDocument.parse(toml)) != nil { accepted.append(file) }
        }
        print("toml-test invalid: \(files.count - accepted.count)/\(files.count) rejected")
        XCTAssertGreaterThan(files.count, 0)
        XCTAssertEqual(accepted, [], "\(accepted.count) invalid documents were accepted:\n" + accepted.joined(separator: "\n"))
    }
}
