// Injected faults (issue 6, "hardening", item 2): graced must stay up, stay consistent
// (`graced status` lists exactly the workers that exist, all of them its children) and
// log every outcome at the right level. One file per facility (Faults/); the fixtures
// are in Support/ReliabilityFixture.swift.
//
// The suite is serialized, nested suites included: most tests drive both cores hard.
// Figures are printed with the prefix "FAULT" for the README's Reliability table.

import Testing

@Suite(.serialized) struct FaultInjectionTests {}
