// graced and systemd (graced-interface.md §5 and §6), with the real graced and
// examples/worker.py, and test-owned stand-ins for systemd (Support/SystemdPeers.swift):
// the Type=notify protocol, the watchdog, the fd store, socket activation in, a restart
// that hands stored sockets back, logging to the journal, and the shipped units.
//
// Every test runs its own graced in its own temporary directory on ports from
// freeTCPPort(); graced and everything below it are SIGKILLed when the test ends.

import Foundation
import Testing


@Suite("systemd") struct SystemdTests {}
