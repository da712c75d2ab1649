// AcceptingProbe, ProcessGroupMembers and their /proc parsers on a fake /proc tree.
// Real servers are in IntegrationTests/AcceptingProbeServerTests.swift.

import Foundation
import Testing
@testable import SupervisorCore

/// A fake /proc: processes with fds (symlinks), fdinfo, threads' syscall files, stat
/// files and a `mem` file for poll/select sets.
private final class FakeProc {
    let root: String

    init() throws {
        root = NSTemporaryDirectory() + "fakeproc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func process(_ pid: pid_t, pgrp: pid_t, comm: String = "server") throws {
        for sub in ["fd", "fdinfo", "task/\(pid)"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(pid)/\(sub)", withIntermediateDirectories: true)
        }
        try write("\(pid)/stat", "\(pid) (\(comm)) S 1 \(pgrp) \(pgrp) 0 -1 4194560 100 0 0 0\n")
        try write("\(pid)/task/\(pid)/syscall", "running\n")
    }

    func fd(_ pid: pid_t, _ fd: Int32, _ target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: "\(root)/\(pid)/fd/\(fd)", withDestinationPath: target)
    }

    func thread(_ pid: pid_t, _ tid: pid_t, syscall: String) throws {
        try FileManager.default.createDirectory(atPath: "\(root)/\(pid)/task/\(tid)", withIntermediateDirectories: true)
        try write("\(pid)/task/\(tid)/syscall", syscall + "\n")
    }

    func write(_ path: String, _ text: String) throws {
        try text.write(toFile: "\(root)/\(path)", atomically: false, encoding: .utf8)
    }

    func memory(_ pid: pid_t, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: "\(root)/\(pid)/mem"))
    }
}

private func epollLine(fd: Int32, events: UInt32, inode: UInt64) -> String {
    "tfd: \(String(repeating: " ", count: 8 - String(fd).count))\(fd) events: \(String(events, radix: 16)) data: \(fd)  pos:0 ino:\(String(inode, radix: 16)) sdev:8\n"
}

private let accept4 = "288 0x3 0x7ffd5c2b1e40 0x7ffd5c2b1e3c 0x80800 0x0 0x0 0x7ffd5c2b1e28 0x7f3a1c2e4d1f"

@Suite struct AcceptingProbeTests {
    @Test func parsesEpollFDInfo() {
        let text = "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\n"
            + "tfd:        7 events:       19 data:                7  pos:0 ino:a0b1c sdev:8\n"
            + "tfd:       12 events: 40000019 data:     7f0000000c  pos:0 ino:1f sdev:9\n"
        let registrations = Array(text.utf8).withUnsafeBytes { EpollRegistration.parse($0) }
        #expect(registrations == [
            EpollRegistration(fd: 7, events: 0x19, inode: 0xa0b1c),
            EpollRegistration(fd: 12, events: 0x4000_0019, inode: 0x1f),
        ])
    }

    @Test func parsesThreadSyscall() {
        func parse(_ s: String) -> ThreadSyscall? { Array(s.utf8).withUnsafeBytes { ThreadSyscall.parse($0) } }
        #expect(parse("running\n") == nil)
        #expect(parse("-1 0x7ffd5c2b1e40 0x7f3a1c2e4d1f\n") == nil)
        let call = parse(accept4)
        #expect(call?.number == 288)
        #expect(call?.arguments == [0x3, 0x7ffd5c2b1e40, 0x7ffd5c2b1e3c, 0x80800, 0, 0])
        #if arch(x86_64)
        #expect(call?.call == .accept)
        #expect(ThreadSyscall.classify(7) == .poll)
        #expect(ThreadSyscall.classify(23) == .select)
        #expect(ThreadSyscall.classify(232) == .epollWait)
        #expect(ThreadSyscall.classify(0) == .other)
        #endif
    }

    @Test func processGroupFieldSurvivesOddNames() {
        let stat = "4242 (a) b (c)) S 1 4000 4000 0 -1 4194560\n"
        #expect(Array(stat.utf8).withUnsafeBytes { ProcessGroupMembers.processGroup($0) } == 4000)
    }

    @Test func groupMembersAndRescanInterval() throws {
        let proc = try FakeProc()
        try proc.process(100, pgrp: 100)
        try proc.process(101, pgrp: 100, comm: "worker (1)")
        try proc.process(200, pgrp: 200)
        let members = ProcessGroupMembers(procRoot: proc.root, rescanInterval: .milliseconds(100),
                                          fullScanInterval: .milliseconds(100))
        let start = MonotonicInstant.now()
        #expect(members.members(ofGroup: 100, now: start) == [100, 101])
        try proc.process(102, pgrp: 100)
        #expect(members.members(ofGroup: 100, now: start + .milliseconds(50)) == [100, 101])
        #expect(members.members(ofGroup: 100, now: start + .milliseconds(150)) == [100, 101, 102])
        // A leader the last scan did not see still answers for itself.
        #expect(members.members(ofGroup: 300, now: start + .milliseconds(160)) == [300])
    }

    @Test func newDescendantsAreFoundBetweenFullScans() throws {
        let proc = try FakeProc()
        try proc.process(100, pgrp: 100)
        let members = ProcessGroupMembers(procRoot: proc.root, rescanInterval: .milliseconds(100),
                                          fullScanInterval: .seconds(60))
        let start = MonotonicInstant.now()
        #expect(members.members(ofGroup: 100, now: start) == [100])
        try proc.process(103, pgrp: 100)
        try proc.process(104, pgrp: 104)  // left the group with setsid()
        try proc.process(105, pgrp: 100)  // a grandchild
        try proc.write("100/task/100/children", "104 103 ")
        try proc.write("103/task/103/children", "105 ")
        #expect(members.members(ofGroup: 100, now: start + .milliseconds(50)) == [100])
        #expect(members.members(ofGroup: 100, now: start + .milliseconds(150)) == [100, 103, 105])
    }

    @Test func epollRegistrationCounts() throws {
        let proc = try FakeProc()
        try proc.process(100, pgrp: 100)
        try proc.fd(100, 3, "socket:[555]")
        try proc.fd(100, 4, "anon_inode:[eventpoll]")
        try proc.fd(100, 5, "socket:[777]")
        try proc.write("100/fdinfo/4", "pos:\t0\nflags:\t02\n" + epollLine(fd: 3, events: 0x19, inode: 555)
            + epollLine(fd: 5, events: 0x19, inode: 777))
        let report = AcceptingProbe(procRoot: proc.root).probe(pids: [100], listenerInodes: [555, 999])
        #expect(report.waiters == [.init(pid: 100, inode: 555, fd: 3, mechanism: .epoll(epollFD: 4))])
        #expect(report.acceptingInodes == [555])
        #expect(report.isAccepting(onAll: [555]))
        #expect(!report.isAccepting(onAll: [555, 999]))
        #expect(report.holders == [100: [555]])
    }

    @Test func staleOrDisarmedEpollRegistrationDoesNotCount() throws {
        let proc = try FakeProc()
        try proc.process(100, pgrp: 100)
        // fd 3 was the listener when registered, then closed and reused for another socket.
        try proc.fd(100, 3, "socket:[888]")
        try proc.fd(100, 6, "socket:[555]")
        try proc.fd(100, 4, "anon_inode:[eventpoll]")
        try proc.write("100/fdinfo/4", epollLine(fd: 3, events: 0x19, inode: 555)
            // An EPOLLONESHOT registration that fired: no EPOLLIN until re-armed.
            + epollLine(fd: 6, events: 0x4000_0000, inode: 555))
        let report = AcceptingProbe(procRoot: proc.root).probe(pids: [100], listenerInodes: [555])
        #expect(report.waiters.isEmpty)
        #expect(report.holders == [100: [555]])
    }

    @Test func threadBlockedInAcceptOnTheListener() throws {
        let proc = try FakeProc()
        try proc.process(100, pgrp: 100)
        try proc.fd(100, 3, "socket:[555]")
        try proc.thread(100, 105, syscall: accept4)
        let report = AcceptingProbe(procRoot: proc.root).probe(pids: [100], listenerInodes: [555])
        #expect(report.waiters == [.init(pid: 100, inode: 555, fd: 3, mechanism: .accept(thread: 105))])
        // accept on another socket is not the listener.
        try proc.thread(100, 105, syscall: accept4.replacingOccurrences(of: "288 0x3", with: "288 0x9"))
        #expect(AcceptingProbe(procRoot: proc.root).probe(pids: [100], listenerInodes: [555]).waiters.isEmpty)
    }

    #if arch(x86_64)
    @Test func threadBlockedInPollOrSelect() throws {
        let proc = try FakeProc()
        try proc.process(100, pgrp: 100)
        try proc.fd(100, 3, "socket:[555]")
        // pollfd[2] at 0x10: {fd 9, POLLIN}, {fd 3, POLLIN}
        var memory = [UInt8](repeating: 0, count: 0x40)
        memory.replaceSubrange(0x10..<0x20, with: [9, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0])
        // fd_set at 0x30 with bit 3 set
        memory[0x30] = 0b0000_1000
        try proc.memory(100, memory)
        try proc.thread(100, 100, syscall: "7 0x10 0x2 0xffffffff 0x0 0x0 0x0 0x7ffd 0x7f3a")
        let probe = AcceptingProbe(procRoot: proc.root)
        #expect(probe.probe(pids: [100], listenerInodes: [555]).waiters.map(\.mechanism) == [.poll(thread: 100)])
        #expect(AcceptingProbe(procRoot: proc.root, readsMemory: false)
            .probe(pids: [100], listenerInodes: [555]).waiters.isEmpty)
        try proc.thread(100, 100, syscall: "23 0x4 0x30 0x0 0x0 0x0 0x0 0x7ffd 0x7f3a")
        #expect(probe.probe(pids: [100], listenerInodes: [555]).waiters.map(\.mechanism) == [.select(thread: 100)])
        // nfds 3 does not reach fd 3.
        try proc.thread(100, 100, syscall: "23 0x3 0x30 0x0 0x0 0x0 0x0 0x7ffd 0x7f3a")
        #expect(probe.probe(pids: [100], listenerInodes: [555]).waiters.isEmpty)
    }
    #endif

    @Test func goneProcessesAreUnreadable() throws {
        let proc = try FakeProc()
        let report = AcceptingProbe(procRoot: proc.root).probe(pids: [4242], listenerInodes: [555])
        #expect(report.waiters.isEmpty)
        #expect(report.unreadable == [4242])
    }
}
