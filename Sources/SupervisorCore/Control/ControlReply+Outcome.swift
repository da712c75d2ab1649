extension ControlReply {
    /// The result line of a reload.
    init(_ outcome: ReloadOutcome) {
        switch outcome {
        case .failed(let reason):
            self.init(event: .result, ok: false, message: reason)
        case .succeeded(let generation, let retired, let drained):
            let message = "generation \(generation) serving" + (retired.map { "; generation \($0) \(drained ? "drained" : "told to stop")" } ?? "")
            self.init(event: .result, ok: true, message: message, generation: generation, retired: retired)
        }
    }
}
