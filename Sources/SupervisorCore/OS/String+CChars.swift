extension String {
    /// The text of a NUL-terminated buffer that a C call filled (mkdtemp, inet_ntop):
    /// up to the first NUL, or the whole buffer if it has none.
    init(nulTerminated buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
