// Tokenizer: the public API of the module: the TextTokenizer protocol every tokenizer implements,
// chat messages and the Llama-3 instruct chat template, typed errors naming file and line, and
// the `Tokenizers` entry points (load a file or model directory, the installed Llama-3
// vocabulary, the byte-level tokenizer for tiny models, a word-level tokenizer trained on texts).

import Foundation

/// One chat message (`role` is "system", "user", "assistant", ...).
public struct ChatMessage: Equatable, Sendable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A tokenizer: text <-> token ids. Implementations are safe to use from several threads.
public protocol TextTokenizer: AnyObject {
    var vocabSize: Int { get }
    var bosID: Int? { get }
    /// Ids that end generation (Llama-3: 128001 `<|end_of_text|>` and 128009 `<|eot_id|>`).
    var endTokenIDs: Set<Int> { get }
    /// Encodes text; special-token text is encoded as plain text.
    func encode(_ text: String, bos: Bool) -> [Int]
    /// Encodes text; with `allowSpecial` special-token text becomes the special token's id.
    func encode(_ text: String, bos: Bool, allowSpecial: Bool) -> [Int]
    /// Decodes ids; unknown ids are skipped, invalid UTF-8 becomes U+FFFD.
    func decode(_ ids: [Int]) -> String
    /// Decodes ids; with `skipSpecialTokens` special tokens are left out (as Hugging Face's
    /// `decode(ids, skip_special_tokens=True)`).
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    /// The Llama-3 instruct chat template (as the Hugging Face template of
    /// Meta-Llama-3-8B-Instruct renders it), tokenized.
    func chat(_ messages: [ChatMessage], generationPrompt: Bool) -> [Int]
    /// The id of a special token such as "<|eot_id|>" (or of a single ordinary token), if any.
    func tokenID(_ special: String) -> Int?
}

public extension TextTokenizer {
    func encode(_ text: String) -> [Int] { encode(text, bos: false, allowSpecial: false) }
    func encode(_ text: String, bos: Bool) -> [Int] { encode(text, bos: bos, allowSpecial: false) }
    func chat(_ messages: [ChatMessage]) -> [Int] { chat(messages, generationPrompt: true) }
}

public extension TextTokenizer {
    /// Decodes ids after checking that every id is one of this tokenizer's (0..<vocabSize):
    /// an id outside it is an error naming the id and its position, never silently dropped.
    func decodeChecked(_ ids: [Int], skipSpecialTokens: Bool = false) throws -> String {
        if let i = ids.firstIndex(where: { $0 < 0 || $0 >= vocabSize }) {
            throw TokenIDError(id: ids[i], position: i, vocabSize: vocabSize)
        }
        return decode(ids, skipSpecialTokens: skipSpecialTokens)
    }
}

/// An id given to `decodeChecked` that the tokenizer does not have.
public struct TokenIDError: Error, CustomStringConvertible, Equatable {
    public let id: Int
    public let position: Int
    public let vocabSize: Int
    public var description: String {
        "id \(id) (at position \(position)) is not in the tokenizer's vocabulary (ids 0...\(vocabSize - 1))"
    }
}

/// Errors from loading tokenizer files. `line` is the 1-based line of a text file or record of a
/// binary file (0 when the problem concerns the whole file).
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(path: String, hint: String)
    case malformed(path: String, line: Int, message: String)
    case unsupported(path: String, message: String)
    case writeFailed(path: String, message: String)

    public var description: String {
        switch self {
        case let .fileNotFound(path, hint):
            return "\(path): tokenizer file not found" + (hint.isEmpty ? "" : "; \(hint)")
        case let .malformed(path, line, message):
            return line > 0 ? "\(path):\(line): \(message)" : "\(path): \(message)"
        case let .unsupported(path, message):
            return "\(path): unsupported tokenizer: \(message)"
        case let .writeFailed(path, message):
            return "\(path): cannot write tokenizer: \(message)"
        }
    }
}

/// The Llama-3 instruct chat template, rendered to text exactly as Meta-Llama-3-8B-Instruct's
/// Hugging Face chat template does (content `| trim`, BOS before the first message only).
public enum ChatTemplate {
    public static func llama3(_ messages: [ChatMessage], generationPrompt: Bool) -> String {
        var s = ""
        for (i, m) in messages.enumerated() {
            if i == 0 { s += "<|begin_of_text|>" }
            s += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + pythonStrip(m.content)
                + "<|eot_id|>"
        }
        if generationPrompt { s += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        return s
    }
}

public enum Tokenizers {
    /// A tiktoken-format BPE file (Meta's `tokenizer.model`), a quicktok `.vocab` file, a Hugging
    /// Face `tokenizer.json` (byte-level BPE or WordLevel), or a model directory holding one of them.
    public static func load(path: String) throws -> TextTokenizer {
        try VocabFiles.load(path: path)
    }

    /// Where `scripts/install_vocab.sh` puts the Llama-3 vocabulary.
    public static var llama3Directory: String {
        let env = ProcessInfo.processInfo.environment
        let data: String
        if let d = env["LLX_DATA"], !d.isEmpty {
            data = d
        } else if let x = env["XDG_DATA_HOME"], !x.isEmpty {
            data = x + "/llx"
        } else {
            let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            data = home + "/.local/share/llx"
        }
        return data + "/llama3"
    }

    private static let llama3Lock = NSLock()
    nonisolated(unsafe) private static var llama3Cache: (String, TextTokenizer)?

    /// The real Llama-3 tokenizer (loaded once per directory and shared).
    public static func llama3() throws -> TextTokenizer {
        let dir = llama3Directory
        llama3Lock.lock()
        defer { llama3Lock.unlock() }
        if let (d, t) = llama3Cache, d == dir { return t }
        let vocab = dir + "/llama3.vocab"
        guard FileManager.default.fileExists(atPath: vocab) else {
            throw TokenizerError.fileNotFound(
                path: vocab,
                hint: "the Llama-3 vocabulary is not installed; run scripts/setup.sh "
                    + "(or scripts/install_vocab.sh), or set LLX_DATA")
        }
        let t = try VocabFiles.loadQuicktok(vocabPath: vocab)
        llama3Cache = (dir, t)
        return t
    }

    /// The byte-level tokenizer for tiny models: ids 0...255 are bytes, then 256
    /// `<|begin_of_text|>`, 257 `<|end_of_text|>`, 258 `<|start_header_id|>`,
    /// 259 `<|end_header_id|>`, 260 `<|eot_id|>`, 261...263 reserved; vocab size 264.
    public static func bytes() -> TextTokenizer { ByteTokenizer() }

    /// A word-level tokenizer trained on `texts` (Hugging Face's WordLevelTrainer; see
    /// `WordLevelTokenizer.train`).
    public static func trainWordLevel(texts: [String], vocabSize: Int, minFrequency: Int = 0,
                                      specialTokens: [String], unkToken: String = "[UNK]",
                                      digits: DigitSplit = .none) -> WordLevelTokenizer {
        WordLevelTokenizer.train(texts: texts, vocabSize: vocabSize, minFrequency: minFrequency,
                                 specialTokens: specialTokens, unkToken: unkToken, digitSplit: digits)
    }
}
