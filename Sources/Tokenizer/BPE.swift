// BPE: the byte-level BPE tokenizer. Two merge rules: tiktoken's (merge the adjacent pair whose
// concatenated bytes have the lowest rank; Meta's tokenizer.model, quicktok files) and Hugging
// Face's (merge the adjacent pair listed first in `merges`). Ties go to the leftmost pair in
// both. Pieces come from the Llama-3 pre-tokenizer; frequent multi-token pieces are cached.

import Foundation

/// Token bytes and ids collected by the file loaders before a tokenizer is built.
struct VocabBuilder {
    var arena: [UInt8] = []
    var starts: [Int32] = []
    var lens: [Int32] = []
    var ids: [Int32] = []

    mutating func add<C: Collection>(_ bytes: C, id: Int) where C.Element == UInt8 {
        starts.append(Int32(arena.count))
        lens.append(Int32(bytes.count))
        ids.append(Int32(id))
        arena.append(contentsOf: bytes)
    }
    var count: Int { ids.count }
}

/// Special tokens: text <-> id, and leftmost-longest search in UTF-8 text.
struct SpecialTokens {
    let byText: [String: Int]
    let bytesByID: [Int: [UInt8]]
    private let byFirstByte: [[(bytes: [UInt8], id: Int)]]   // 256 lists, longest first

    init(_ pairs: [(String, Int)]) {
        var t: [String: Int] = [:]
        var b: [Int: [UInt8]] = [:]
        var first = [[(bytes: [UInt8], id: Int)]](repeating: [], count: 256)
        for (s, id) in pairs where !s.isEmpty {
            t[s] = id
            b[id] = Array(s.utf8)
            first[Int(s.utf8.first!)].append((Array(s.utf8), id))
        }
        for i in 0..<256 { first[i].sort { $0.bytes.count > $1.bytes.count } }
        byText = t
        bytesByID = b
        byFirstByte = first
    }

    var isEmpty: Bool { byText.isEmpty }

    /// Splits `buf` at special tokens: `text(start, end)` for ordinary runs, `special(id)` for each.
    func split(_ buf: UnsafeBufferPointer<UInt8>, text: (Int, Int) -> Void, special: (Int) -> Void) {
        guard let base = buf.baseAddress else { return }
        let n = buf.count
        var runStart = 0
        var i = 0
        outer: while i < n {
            let cands = byFirstByte[Int(base[i])]
            if !cands.isEmpty {
                for c in cands where c.bytes.count <= n - i {
                    let hit = c.bytes.withUnsafeBufferPointer { memcmp($0.baseAddress!, base + i, $0.count) == 0 }
                    if hit {
                        if runStart < i { text(runStart, i) }
                        special(c.id)
                        i += c.bytes.count
                        runStart = i
                        continue outer
                    }
                }
            }
            i += 1
        }
        if runStart < n { text(runStart, n) }
    }
}

final class BPETokenizer: TextTokenizer {
    /// How pairs merge: by rank of the merged bytes (tiktoken) or by `merges` order (HF).
    enum Rule {
        case ranks
        /// (leftID << 32 | rightID) -> (mergeRank << 32 | mergedID)
        case merges([UInt64: UInt64], ignoreMerges: Bool)
    }

    let source: String
    let vocabSize: Int
    let bosID: Int?
    let endTokenIDs: Set<Int>
    private let table: ByteTable
    private let rule: Rule
    private let byteID: [Int32]               // id of each single byte, -1 if none
    fileprivate func byteIDOf(_ b: UInt8) -> Int32 { byteID[Int(b)] }
    private let decodeArena: [UInt8]
    private let decodeStart: [Int32]          // by id; -1 = no such ordinary token
    private let decodeLen: [Int32]
    private let specials: SpecialTokens
    private let cache = PieceCache()
    private let cacheLock = NSLock()
    private static let cacheMaxPiece = 2048          // longer pieces are not cached

    /// `bos` names the beginning-of-text special token (default Llama-3's `<|begin_of_text|>`).
    init(source: String, vocab: VocabBuilder, specials: [(String, Int)], rule: Rule, bos: String? = nil) {
        self.source = source
        self.rule = rule
        let t = ByteTable(capacity: vocab.count)
        var maxID = -1
        vocab.arena.withUnsafeBufferPointer { a in
            for k in 0..<vocab.count {
                let s = Int(vocab.starts[k]), l = Int(vocab.lens[k])
                t.insert(UnsafeBufferPointer(rebasing: a[s..<(s + l)]), vocab.ids[k])
                maxID = max(maxID, Int(vocab.ids[k]))
            }
        }
        table = t
        var bid = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            var byte = UInt8(b)
            bid[b] = t.lookup(&byte, 1)
        }
        byteID = bid
        var ds = [Int32](repeating: -1, count: maxID + 1)
        var dl = [Int32](repeating: 0, count: maxID + 1)
        for k in 0..<vocab.count where ds[Int(vocab.ids[k])] < 0 {
            ds[Int(vocab.ids[k])] = vocab.starts[k]
            dl[Int(vocab.ids[k])] = vocab.lens[k]
        }
        decodeArena = vocab.arena
        decodeStart = ds
        decodeLen = dl
        let sp = SpecialTokens(specials)
        self.specials = sp
        vocabSize = max(maxID + 1, (specials.map { $0.1 }.max() ?? -1) + 1)
        bosID = sp.byText[bos ?? "<|begin_of_text|>"]
        endTokenIDs = Set(["<|end_of_text|>", "<|eot_id|>", "<|eom_id|>"].compactMap { sp.byText[$0] })
    }

    // MARK: TextTokenizer

    func encode(_ text: String, bos: Bool) -> [Int] { encode(text, bos: bos, allowSpecial: false) }

    func encode(_ text: String, bos: Bool, allowSpecial: Bool) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3 + 2)
        if bos, let b = bosID { out.append(b) }
        var s = text
        s.withUTF8 { buf in
            guard let base = buf.baseAddress else { return }
            if allowSpecial && !specials.isEmpty {
                specials.split(buf, text: { a, b in
                    encodeOrdinary(UnsafeBufferPointer(start: base + a, count: b - a), into: &out)
                }, special: { out.append($0) })
            } else {
                encodeOrdinary(buf, into: &out)
            }
        }
        return out
    }

    func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        decodeArena.withUnsafeBufferPointer { a in
            for id in ids {
                if id >= 0 && id < decodeStart.count && decodeStart[id] >= 0 {
                    let s = Int(decodeStart[id])
                    bytes.append(contentsOf: a[s..<(s + Int(decodeLen[id]))])
                } else if let sp = specials.bytesByID[id] {
                    bytes.append(contentsOf: sp)
                }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        decode(skipSpecialTokens ? ids.filter { specials.bytesByID[$0] == nil } : ids)
    }

    func chat(_ messages: [ChatMessage], generationPrompt: Bool) -> [Int] {
        encode(ChatTemplate.llama3(messages, generationPrompt: generationPrompt), bos: false, allowSpecial: true)
    }

    func tokenID(_ special: String) -> Int? {
        if let id = specials.byText[special] { return id }
        var s = special
        let id = s.withUTF8 { b -> Int32 in
            guard let p = b.baseAddress, !b.isEmpty else { return -1 }
            return table.lookup(p, b.count)
        }
        return id >= 0 ? Int(id) : nil
    }

    // MARK: Encoding

    func encodeOrdinary(_ buf: UnsafeBufferPointer<UInt8>, into out: inout [Int]) {
        guard let base = buf.baseAddress else { return }
        Llama3Pretokenizer.split(buf) { s, e in
            encodePiece(base + s, e - s, into: &out)
        }
    }

    @inline(__always)
    private func encodePiece(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int]) {
        if n == 1 {
            let id = byteID[Int(p[0])]
            if id >= 0 { out.append(Int(id)) }
            return
        }
        var ignoreMerges = true
        if case let .merges(_, ig) = rule { ignoreMerges = ig }
        let h = hashBytes(p, n)
        if ignoreMerges {
            let whole = table.lookup(p, n, hash: h)
            if whole >= 0 { out.append(Int(whole)); return }
        }
        let cacheable = n <= Self.cacheMaxPiece
        if cacheable {
            cacheLock.lock()
            let hit = cache.lookup(p, n, h, into: &out)
            cacheLock.unlock()
            if hit { return }
        }
        var ids: [Int32] = []
        switch rule {
        case .ranks:
            if n <= 256 { mergeByRankLinear(p, n, into: &ids) } else { mergeByRankHeap(p, n, into: &ids) }
        case let .merges(m, _):
            if n <= 256 { mergeByPairs(p, n, m, into: &ids) } else { mergeByPairsHeap(p, n, m, into: &ids) }
        }
        for id in ids { out.append(Int(id)) }
        if cacheable {
            cacheLock.lock()
            cache.insert(p, n, h, ids)
            cacheLock.unlock()
        }
    }

    @inline(__always)
    private func rank(_ p: UnsafePointer<UInt8>, _ a: Int32, _ b: Int32) -> Int32 {
        let r = table.lookup(p + Int(a), Int(b - a))
        return r < 0 ? Int32.max : r
    }

    /// tiktoken's merge loop on small arrays: part starts and the rank of each part with the next.
    private func mergeByRankLinear(_ p: UnsafePointer<UInt8>, _ n: Int, into ids: inout [Int32]) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * (n + 1)) { buf in
            let starts = buf.baseAddress!
            let ranks = starts + (n + 1)
            for i in 0...n { starts[i] = Int32(i) }
            for i in 0..<(n - 1) { ranks[i] = rank(p, Int32(i), Int32(i + 2)) }
            ranks[n - 1] = .max
            ranks[n] = .max
            var count = n + 1
            while true {
                var minR = Int32.max
                var mi = 0
                for i in 0..<(count - 1) where ranks[i] < minR { minR = ranks[i]; mi = i }
                if minR == .max { break }
                ranks[mi] = mi + 3 < count ? rank(p, starts[mi], starts[mi + 3]) : .max
                if mi > 0 { ranks[mi - 1] = mi + 2 < count ? rank(p, starts[mi - 1], starts[mi + 2]) : .max }
                var k = mi + 1
                while k < count - 1 { starts[k] = starts[k + 1]; ranks[k] = ranks[k + 1]; k += 1 }
                count -= 1
            }
            for k in 0..<(count - 1) {
                let r = table.lookup(p + Int(starts[k]), Int(starts[k + 1] - starts[k]))
                if r >= 0 { ids.append(r) }
            }
        }
    }

    /// The same merges for long pieces: a linked list of parts and a min-heap of (rank, start).
    private func mergeByRankHeap(_ p: UnsafePointer<UInt8>, _ n: Int, into ids: inout [Int32]) {
        // next/prev/cur over start positions 0...n, then the heap (at most 3 pushes per merge).
        let heapCap = 4 * n + 4
        let mem = UnsafeMutablePointer<Int32>.allocate(capacity: 3 * (n + 1))
        let heap = UnsafeMutablePointer<UInt64>.allocate(capacity: heapCap)
        defer { mem.deallocate(); heap.deallocate() }
        let next = mem, prev = mem + (n + 1), cur = mem + 2 * (n + 1)
        var hn = 0
        @inline(__always) func push(_ x: UInt64) {
            var i = hn
            hn += 1
            while i > 0 {
                let parent = (i - 1) >> 1
                if heap[parent] <= x { break }
                heap[i] = heap[parent]
                i = parent
            }
            heap[i] = x
        }
        @inline(__always) func pop() -> UInt64 {
            let top = heap[0]
            hn -= 1
            let x = heap[hn]
            var i = 0
            while true {
                let l = 2 * i + 1
                if l >= hn { break }
                var m = l
                if l + 1 < hn && heap[l + 1] < heap[l] { m = l + 1 }
                if heap[m] >= x { break }
                heap[i] = heap[m]
                i = m
            }
            heap[i] = x
            return top
        }
        for i in 0...n { next[i] = Int32(min(i + 1, n)); prev[i] = Int32(i - 1); cur[i] = .max }
        for i in 0..<(n - 1) {
            cur[i] = rank(p, Int32(i), Int32(i + 2))
            if cur[i] != .max { push(UInt64(UInt32(cur[i])) << 32 | UInt64(i)) }
        }
        while hn > 0 {
            let top = pop()
            let r = Int32(truncatingIfNeeded: top >> 32)
            let i = Int(top & 0xFFFF_FFFF)
            if cur[i] != r { continue }          // stale entry
            let j = Int(next[i])
            let k = Int(next[j])
            next[i] = Int32(k)
            prev[k] = Int32(i)
            cur[j] = .max
            cur[i] = k < n ? rank(p, Int32(i), next[k]) : .max
            if cur[i] != .max { push(UInt64(UInt32(cur[i])) << 32 | UInt64(i)) }
            let h = Int(prev[i])
            if h >= 0 {
                cur[h] = rank(p, Int32(h), Int32(k))
                if cur[h] != .max { push(UInt64(UInt32(cur[h])) << 32 | UInt64(h)) }
            }
        }
        var i = 0
        while i < n {
            let j = Int(next[i])
            let r = table.lookup(p + i, j - i)
            if r >= 0 { ids.append(r) }
            i = j
        }
    }

    /// Hugging Face BPE: start from byte tokens, repeatedly merge the pair earliest in `merges`.
    private func mergeByPairs(_ p: UnsafePointer<UInt8>, _ n: Int, _ merges: [UInt64: UInt64],
                              into ids: inout [Int32]) {
        var sym: [Int32] = []
        sym.reserveCapacity(n)
        for i in 0..<n where byteID[Int(p[i])] >= 0 { sym.append(byteID[Int(p[i])]) }
        @inline(__always) func pair(_ a: Int32, _ b: Int32) -> UInt64 {
            merges[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))] ?? .max
        }
        var pr = [UInt64](repeating: .max, count: max(sym.count, 1))
        if sym.count > 1 { for i in 0..<(sym.count - 1) { pr[i] = pair(sym[i], sym[i + 1]) } }
        var count = sym.count
        while count > 1 {
            var minR = UInt64.max
            var mi = 0
            for i in 0..<(count - 1) where pr[i] < minR { minR = pr[i]; mi = i }
            if minR == .max { break }
            sym[mi] = Int32(truncatingIfNeeded: minR & 0xFFFF_FFFF)
            var k = mi + 1
            while k < count - 1 { sym[k] = sym[k + 1]; pr[k] = pr[k + 1]; k += 1 }
            count -= 1
            pr[count - 1] = .max
            if mi + 1 < count { pr[mi] = pair(sym[mi], sym[mi + 1]) } else { pr[mi] = .max }
            if mi > 0 { pr[mi - 1] = pair(sym[mi - 1], sym[mi]) }
        }
        ids.append(contentsOf: sym[0..<count])
    }
}

extension BPETokenizer {
    /// Hugging Face merges for long pieces: linked list of symbols, min-heap of (merge rank, start).
    fileprivate func mergeByPairsHeap(_ p: UnsafePointer<UInt8>, _ n: Int, _ merges: [UInt64: UInt64],
                                      into ids: inout [Int32]) {
        var sym: [Int32] = []
        sym.reserveCapacity(n)
        for i in 0..<n where byteIDOf(p[i]) >= 0 { sym.append(byteIDOf(p[i])) }
        let m = sym.count
        guard m > 1 else { ids.append(contentsOf: sym); return }
        var next = (0..<m).map { Int32($0 + 1) }
        var prev = (0..<m).map { Int32($0 - 1) }
        var cur = [UInt64](repeating: .max, count: m)   // (rank << 32 | merged id) of (i, next[i])
        func pair(_ a: Int32, _ b: Int32) -> UInt64 {
            merges[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))] ?? .max
        }
        var heap = MinHeap()
        for i in 0..<(m - 1) {
            cur[i] = pair(sym[i], sym[i + 1])
            if cur[i] != .max { heap.push((cur[i] >> 32) << 32 | UInt64(i)) }
        }
        while let top = heap.pop() {
            let i = Int(top & 0xFFFF_FFFF)
            if cur[i] == .max || cur[i] >> 32 != top >> 32 { continue }   // stale entry
            let j = Int(next[i])
            sym[i] = Int32(truncatingIfNeeded: cur[i] & 0xFFFF_FFFF)
            let k = Int(next[j])
            next[i] = Int32(k)
            if k < m { prev[k] = Int32(i) }
            cur[j] = .max
            cur[i] = k < m ? pair(sym[i], sym[k]) : .max
            if cur[i] != .max { heap.push((cur[i] >> 32) << 32 | UInt64(i)) }
            let h = Int(prev[i])
            if h >= 0 {
                cur[h] = pair(sym[h], sym[i])
                if cur[h] != .max { heap.push((cur[h] >> 32) << 32 | UInt64(h)) }
            }
        }
        var i = 0
        while i < m { ids.append(sym[i]); i = Int(next[i]) }
    }
}

/// A binary min-heap of packed (rank << 32 | position) keys.
struct MinHeap {
    private var a: [UInt64] = []
    mutating func push(_ x: UInt64) {
        a.append(x)
        var i = a.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if a[parent] <= a[i] { break }
            a.swapAt(parent, i)
            i = parent
        }
    }
    mutating func pop() -> UInt64? {
        guard let top = a.first else { return nil }
        let last = a.removeLast()
        if !a.isEmpty {
            a[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < a.count && a[l] < a[m] { m = l }
                if r < a.count && a[r] < a[m] { m = r }
                if m == i { break }
                a.swapAt(m, i)
                i = m
            }
        }
        return top
    }
}
