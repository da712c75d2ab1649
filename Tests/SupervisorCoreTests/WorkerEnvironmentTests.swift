import Testing
@testable import SupervisorCore

@Suite struct WorkerEnvironmentTests {
    @Test func fdPlaceholdersExpandToTheListenerPosition() {
        let argv = WorkerEnvironment.expandArguments(
            ["uvicorn", "--fd", "{fd:http}", "--admin={fd:admin}", "{fd:unknown}", "plain"],
            listenerNames: ["admin", "http"])
        #expect(argv == ["uvicorn", "--fd", "4", "--admin=3", "{fd:unknown}", "plain"])
    }

    @Test func protocolVariablesComeFromGracedNotFromItsEnvironment() {
        let env = WorkerEnvironment.compose(
            inherited: ["PATH": "/bin", "LISTEN_FDS": "9", "LISTEN_PID": "1", "LISTEN_FDNAMES": "x",
                        "NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "100", "FDSTORE": "4", "KEEP": "yes"],
            configured: [EnvironmentVariable(name: "APP_ENV", value: "production")],
            listenerNames: ["http", "admin"], notifySocket: "@graced/1/notify",
            generation: 4, workerIndex: 2, credentials: nil)
        let map = Dictionary(uniqueKeysWithValues: env.map { entry -> (String, String) in
            let parts = entry.split(separator: "=", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        })
        #expect(map["LISTEN_FDS"] == "2")
        #expect(map["LISTEN_FDNAMES"] == "http:admin")
        #expect(map["LISTEN_PID"] == nil, "written by the child itself")
        #expect(map["NOTIFY_SOCKET"] == "@graced/1/notify")
        #expect(map["WATCHDOG_USEC"] == nil)
        #expect(map["FDSTORE"] == nil)
        #expect(map["EINHORN_FDS"] == "3 4")
        #expect(map["GRACED_GENERATION"] == "4")
        #expect(map["GRACED_WORKER"] == "2")
        #expect(map["APP_ENV"] == "production")
        #expect(map["KEEP"] == "yes")
        #expect(map["PATH"] == "/bin")
    }

    @Test func droppedUserGetsItsOwnHome() {
        let credentials = WorkerCredentials(uid: 65534, gid: 65534, groups: [65534], home: "/nonexistent", userName: "nobody")
        let env = WorkerEnvironment.compose(
            inherited: ["HOME": "/root", "USER": "root"], configured: [], listenerNames: ["http"],
            notifySocket: "@n", generation: 1, workerIndex: 0, credentials: credentials)
        #expect(env.contains("HOME=/nonexistent"))
        #expect(env.contains("USER=nobody"))
        #expect(!env.contains("HOME=/root"))
    }
}
