// PieceCache: remembers the token ids of pre-tokenizer pieces that needed BPE merges, keyed by
// their bytes (open addressing, keys and ids in flat arenas, no per-entry allocation). When it
// fills up it is emptied and starts over. Not thread-safe by itself: the owner locks around it.

import Foundation

final class PieceCache {
    private let slotCount: Int
    private let mask: Int
    private let maxEntries: Int
    private let keyCap: Int
    private let idCap: Int
    private let hashes: UnsafeMutablePointer<UInt64>
    private let keyStart: UnsafeMutablePointer<Int32>   // -1 = empty slot
    private let keyLen: UnsafeMutablePointer<Int32>
    private let idStart: UnsafeMutablePointer<Int32>
    private let idLen: UnsafeMutablePointer<Int32>
    private let keys: UnsafeMutablePointer<UInt8>
    private let ids: UnsafeMutablePointer<Int32>
    private var entries = 0
    private var keyUsed = 0
    private var idUsed = 0

    init(slotBits: Int = 17, keyBytes: Int = 8 << 20, idCount: Int = 1 << 20) {
        slotCount = 1 << slotBits
        mask = slotCount - 1
        maxEntries = slotCount / 2
        keyCap = keyBytes
        idCap = idCount
        hashes = .allocate(capacity: slotCount)
        keyStart = .allocate(capacity: slotCount)
        keyStart.initialize(repeating: -1, count: slotCount)
        keyLen = .allocate(capacity: slotCount)
        idStart = .allocate(capacity: slotCount)
        idLen = .allocate(capacity: slotCount)
        keys = .allocate(capacity: keyCap)
        ids = .allocate(capacity: idCap)
    }

    deinit {
        hashes.deallocate(); keyStart.deallocate(); keyLen.deallocate(); idStart.deallocate()
        idLen.deallocate(); keys.deallocate(); ids.deallocate()
    }

    /// Appends the cached ids of the `n` bytes at `p` (hash `h`) to `out`; false if absent.
    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int, _ h: UInt64, into out: inout [Int]) -> Bool {
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let ks = keyStart[s]
            if ks < 0 { return false }
            if hashes[s] == h && Int(keyLen[s]) == n && memcmp(keys + Int(ks), p, n) == 0 {
                let a = Int(idStart[s])
                for k in a..<(a + Int(idLen[s])) { out.append(Int(ids[k])) }
                return true
            }
            s = (s + 1) & mask
        }
    }

    /// Stores the ids of the `n` bytes at `p` (hash `h`); empties the cache first when full.
    func insert(_ p: UnsafePointer<UInt8>, _ n: Int, _ h: UInt64, _ value: [Int32]) {
        guard n <= keyCap / 4, value.count <= idCap / 4 else { return }
        if entries >= maxEntries || keyUsed + n > keyCap || idUsed + value.count > idCap {
            keyStart.update(repeating: -1, count: slotCount)
            entries = 0
            keyUsed = 0
            idUsed = 0
        }
        var s = Int(truncatingIfNeeded: h) & mask
        while keyStart[s] >= 0 { s = (s + 1) & mask }
        hashes[s] = h
        keyStart[s] = Int32(keyUsed)
        keyLen[s] = Int32(n)
        (keys + keyUsed).update(from: p, count: n)
        keyUsed += n
        idStart[s] = Int32(idUsed)
        idLen[s] = Int32(value.count)
        for v in value { ids[idUsed] = v; idUsed += 1 }
        entries += 1
    }
}
