// ByteTable: an open-addressing hash map from byte strings to Int32 values (token ranks / ids),
// with keys stored in one arena; built once at load time, then only read (thread-safe reads).

import Foundation

@inline(__always)
func hashBytes(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: n)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= n {
        let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 31
        i += 8
    }
    if i < n {
        var w: UInt64 = 0
        var s: UInt64 = 0
        while i < n { w |= UInt64(p[i]) << s; s += 8; i += 1 }
        h = (h ^ w) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 29
    }
    h = h &* 0xBF58_476D_1CE4_E5B9
    return h ^ (h >> 32)
}

final class ByteTable {
    private var arena: UnsafeMutablePointer<UInt8>
    private var arenaCap: Int
    private var arenaUsed = 0
    private var starts: UnsafeMutablePointer<Int32>
    private var lens: UnsafeMutablePointer<Int32>
    private var values: UnsafeMutablePointer<Int32>
    private var slots: UnsafeMutablePointer<Int32>    // entry index + 1, 0 = empty
    private var mask: Int
    private(set) var count = 0
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        var size = 16
        while size < self.capacity * 2 { size <<= 1 }
        mask = size - 1
        slots = .allocate(capacity: size)
        slots.initialize(repeating: 0, count: size)
        starts = .allocate(capacity: self.capacity)
        lens = .allocate(capacity: self.capacity)
        values = .allocate(capacity: self.capacity)
        arenaCap = self.capacity * 8 + 64
        arena = .allocate(capacity: arenaCap)
    }

    deinit {
        arena.deallocate(); starts.deallocate(); lens.deallocate(); values.deallocate()
        slots.deallocate()
    }

    /// Inserts `key` -> `value`; returns false (and keeps the old value) if the key exists or the
    /// table is full.
    @discardableResult
    func insert(_ key: UnsafeBufferPointer<UInt8>, _ value: Int32) -> Bool {
        guard count < capacity else { return false }
        let n = key.count
        let kp = key.baseAddress ?? UnsafePointer(arena)
        if lookup(kp, n) >= 0 { return false }
        if arenaUsed + n > arenaCap {
            var newCap = arenaCap * 2
            while arenaUsed + n > newCap { newCap *= 2 }
            let na = UnsafeMutablePointer<UInt8>.allocate(capacity: newCap)
            na.update(from: arena, count: arenaUsed)
            arena.deallocate()
            arena = na
            arenaCap = newCap
        }
        if n > 0 { (arena + arenaUsed).update(from: kp, count: n) }
        starts[count] = Int32(arenaUsed)
        lens[count] = Int32(n)
        values[count] = value
        arenaUsed += n
        var s = Int(truncatingIfNeeded: hashBytes(kp, n)) & mask
        while slots[s] != 0 { s = (s + 1) & mask }
        slots[s] = Int32(count + 1)
        count += 1
        return true
    }

    @discardableResult
    func insert(_ key: [UInt8], _ value: Int32) -> Bool {
        key.withUnsafeBufferPointer { insert($0, value) }
    }

    /// The value stored for the `n` bytes at `p`, or -1.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32 {
        lookup(p, n, hash: hashBytes(p, n))
    }

    /// The same with the key's `hashBytes` already computed.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int, hash: UInt64) -> Int32 {
        var s = Int(truncatingIfNeeded: hash) & mask
        while true {
            let e = Int(slots[s])
            if e == 0 { return -1 }
            let idx = e - 1
            if Int(lens[idx]) == n && memcmp(arena + Int(starts[idx]), p, n) == 0 {
                return values[idx]
            }
            s = (s + 1) & mask
        }
    }
}
