// The shipped units: part of SystemdTests; helpers in Support/SystemdFixtures.swift.

import Foundation
import Testing

// MARK: - Units

extension SystemdTests {
    @Suite("shipped units", .timeLimit(.minutes(5)))
    struct Units {
        /// scripts/verify-units.sh: `systemd-analyze verify` passes, with nothing on stderr,
        /// on graced.service, graced@.service (as an instance) and graced.socket against the
        /// built graced.
        @Test(.enabled(if: Binaries.isExecutableFile("/usr/bin/systemd-analyze"), "needs systemd-analyze"))
        func shippedUnitsVerify() throws {
            let script = Binaries.repositoryRoot + "/scripts/verify-units.sh"
            let result = runCommand("/bin/bash", [script, try Binaries.graced], timeout: .seconds(180))
            #expect(result.status == 0, "verify-units.sh exited \(result.status):\n\(result.stdout)\n\(result.stderr)")
            for unit in ["graced.service", "graced@example.service", "graced.socket"] {
                #expect(result.stdout.contains("systemd-analyze verify \(unit): ok"), "\(unit):\n\(result.stdout)\n\(result.stderr)")
            }
        }

        /// What the units promise to graced: Type=notify with NotifyAccess=main, a reload
        /// through `graced reload`, KillMode=mixed, a watchdog, an fd store, and a socket unit
        /// whose FileDescriptorName= is the name of the example config's listener.
        @Test func unitsDeclareWhatGracedImplements() throws {
            let root = Binaries.repositoryRoot + "/etc/systemd/"
            for unit in ["graced.service", "graced@.service"] {
                let text = String(decoding: readWholeFile(root + unit) ?? [], as: UTF8.self)
                for line in ["Type=notify", "NotifyAccess=main", "KillMode=mixed", "FileDescriptorStoreMax="] {
                    #expect(text.contains(line), "\(unit) lacks \(line)")
                }
                #expect(text.contains("ExecReload=/usr/local/bin/graced reload"), "\(unit)")
                #expect(text.contains("WatchdogSec="), "\(unit)")
            }
            let socketUnit = String(decoding: readWholeFile(root + "graced.socket") ?? [], as: UTF8.self)
            let name = socketUnit.split(separator: "\n").first { $0.hasPrefix("FileDescriptorName=") }
                .map { String($0.dropFirst("FileDescriptorName=".count)) }
            let listen = socketUnit.split(separator: "\n").first { $0.hasPrefix("ListenStream=") }
                .map { String($0.dropFirst("ListenStream=".count)) }
            #expect(name == "http")
            let example = String(decoding: readWholeFile(Binaries.repositoryRoot + "/etc/graced.conf") ?? [], as: UTF8.self)
            if !example.isEmpty, let listen {
                #expect(example.contains("name = \"http\""), "etc/graced.conf has no listener named http")
                #expect(example.contains("\"\(listen)\""), "etc/graced.conf does not listen on \(listen) like graced.socket")
            }
        }
    }
}
