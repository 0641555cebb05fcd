// Examples: turns training records into token ids and loss labels. Text is language
// modelling (labels = ids, truncated to max_len); a conversation goes through the tokenizer's
// chat template and only the assistant replies and their end-of-turn token carry labels
// (-100 elsewhere); conversations longer than max_len are dropped, as the paper does.
import Foundation
import Tokenizer

/// The label that carries no loss (PyTorch's CrossEntropyLoss ignore_index).
public let ignoreIndex = -100

/// What the data pipeline needs from a tokenizer.
public struct TrainTokenizer {
    /// Token ids of plain text, starting with the BOS token where the tokenizer has one.
    public var encode: (String) throws -> [Int]
    /// Token ids of messages through the chat template; the Bool asks for the assistant
    /// header at the end (add_generation_prompt).
    public var chat: ([ChatMessage], Bool) throws -> [Int]

    public init(encode: @escaping (String) throws -> [Int], chat: @escaping ([ChatMessage], Bool) throws -> [Int]) {
        self.encode = encode
        self.chat = chat
    }

    /// Text with BOS, and the tokenizer's (Llama-3) chat template.
    public init(_ tok: TextTokenizer) {
        self.encode = { tok.encode($0, bos: true) }
        self.chat = { tok.chat($0, generationPrompt: $1) }
    }
}

/// One tokenized training sequence. `labels` follows the Hugging Face convention: unshifted,
/// the same length as `ids`; the model predicts labels[t+1] from ids[...t].
public struct TrainExample: Equatable, Sendable {
    public var ids: [Int]
    public var labels: [Int]

    public init(ids: [Int], labels: [Int]) { self.ids = ids; self.labels = labels }

    /// Positions that contribute to the loss after the shift (labels[1...] != -100).
    public var lossTokens: Int {
        var n = 0
        for l in labels.dropFirst() where l != ignoreIndex { n += 1 }
        return n
    }
}

/// The result of tokenizing a dataset.
public struct PreparedData: Sendable {
    public var examples: [TrainExample]
    /// Conversations dropped for being longer than max_len.
    public var droppedTooLong: Int
    /// Records dropped because no token carries a loss.
    public var droppedNoLoss: Int
    /// Text (or token) records cut to max_len.
    public var truncated: Int
    /// The index in the dataset of the record each example came from (examples[i] is of
    /// data.records[recordIndices[i]]).
    public var recordIndices: [Int] = []
}

public enum Examples {
    /// Labels for a conversation: the ids of the whole conversation, with labels only on
    /// the tokens each assistant message adds after its header: its content and end-of-turn
    /// token. The boundaries come from the template itself: an assistant reply i spans
    /// [len(chat(messages[..<i], generation_prompt)), len(chat(messages[...i]))).
    public static func conversation(_ messages: [ChatMessage], tokenizer: TrainTokenizer) throws -> TrainExample {
        let full = try tokenizer.chat(messages, false)
        var labels = [Int](repeating: ignoreIndex, count: full.count)
        for (i, m) in messages.enumerated() where m.role == "assistant" {
            let before = try tokenizer.chat(Array(messages[..<i]), true)
            let endCount = i == messages.count - 1 ? full.count : try tokenizer.chat(Array(messages[...i]), false).count
            guard before.count <= endCount, endCount <= full.count, full.starts(with: before) else {
                throw TrainError.argument("tokenizer", "the chat template does not render conversation prefixes as prefixes; cannot find assistant turn \(i)")
            }
            for j in before.count..<endCount { labels[j] = full[j] }
        }
        return TrainExample(ids: full, labels: labels)
    }

    /// Tokenizes every record. maxLen (when > 0) truncates text and token records and drops
    /// longer conversations; records without any loss token are dropped.
    public static func prepare(_ data: TrainDataset, tokenizer: TrainTokenizer?, maxLen: Int?) throws -> PreparedData {
        if let m = maxLen, m < 2 { throw TrainError.argument("max_len", "must be at least 2, got \(m)") }
        var out = PreparedData(examples: [], droppedTooLong: 0, droppedNoLoss: 0, truncated: 0)
        out.examples.reserveCapacity(data.count)
        for (i, r) in data.records.enumerated() {
            var ex: TrainExample
            switch r {
            case .text(let s):
                guard let tok = tokenizer else { throw TrainError.argument("tok", "text records need a tokenizer (record \(i) of \(data.source))") }
                let ids = try tok.encode(s)
                ex = TrainExample(ids: ids, labels: ids)
            case .conversation(let msgs):
                guard let tok = tokenizer else { throw TrainError.argument("tok", "conversations need a tokenizer (record \(i) of \(data.source))") }
                ex = try conversation(msgs, tokenizer: tok)
                if let m = maxLen, ex.ids.count > m { out.droppedTooLong += 1; continue }
            case .tokens(let ids, let labels):
                guard ids.count == labels.count else {
                    throw TrainError.data(data.source, 0, "record \(i): \(ids.count) ids but \(labels.count) labels")
                }
                ex = TrainExample(ids: ids, labels: labels)
            }
            if let m = maxLen, ex.ids.count > m {
                ex.ids.removeLast(ex.ids.count - m)
                ex.labels.removeLast(ex.labels.count - m)
                out.truncated += 1
            }
            if ex.lossTokens == 0 { out.droppedNoLoss += 1; continue }
            out.examples.append(ex)
            out.recordIndices.append(i)
        }
        return out
    }
}
