// Line input: GNU readline at a terminal (editing, history in ~/.llx_history or $LLX_HISTORY,
// Ctrl-R reverse search, tab completion through `Completion`), plain lines from a pipe otherwise.
// Ctrl-C at the prompt clears the line; during a command it sets the cancellation flag.
import Foundation
import CReadline
import Lang

/// Where the REPL reads its lines from.
public protocol LineReader: AnyObject {
    /// The next line without its newline; nil at end of input (Ctrl-D).
    func readLine(prompt: String) -> String?
    func addHistory(_ entry: String)
}

/// Lines from stdin without prompts or escape codes (`echo 'print(1+1)' | llx`).
public final class PipeReader: LineReader {
    public init() {}
    public func readLine(prompt: String) -> String? { Swift.readLine(strippingNewline: true) }
    public func addHistory(_ entry: String) {}
}

/// Global state the C callbacks (signal handler, completion) reach.
enum EditorState {
    nonisolated(unsafe) static var interpreter: Interpreter? = nil
    nonisolated(unsafe) static var matches: [String] = []
    nonisolated(unsafe) static var atPrompt: Int32 = 0
    nonisolated(unsafe) static var continuationText = ""
}

/// SIGINT: at the prompt, drop the line being edited; while running, request cancellation.
/// A second Ctrl-C while a cancellation is still pending (a command that never checks)
/// interrupts that command's wait only at its next check; the session stays alive.
func installInterruptHandler() {
    _ = Interrupt.token   // created before a signal can arrive
    signal(SIGINT) { _ in
        if EditorState.atPrompt != 0 {
            let nl: [UInt8] = [10]
            _ = nl.withUnsafeBufferPointer { write(1, $0.baseAddress, 1) }
            rl_free_line_state()
            rl_replace_line("", 0)
            rl_on_new_line()
            rl_redisplay()
        } else {
            Interrupt.token.cancel()
        }
    }
}

public final class ReadlineReader: LineReader {
    let historyPath: String

    public init(interpreter: Interpreter) {
        EditorState.interpreter = interpreter
        historyPath = ProcessInfo.processInfo.environment["LLX_HISTORY"]
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".llx_history")
        rl_readline_name = UnsafePointer(strdup("llx"))
        rl_catch_signals = 0
        rl_completer_word_break_characters = UnsafePointer(strdup(Completion.wordBreaks))
        rl_attempted_completion_function = { text, start, end in
            rl_attempted_completion_over = 1
            rl_completion_append_character = 0
            guard let interp = EditorState.interpreter else { return nil }
            let line = String(cString: rl_line_buffer)
            let prefixBytes = Array(line.utf8.prefix(Int(end)))
            let cursor = String(decoding: prefixBytes, as: UTF8.self).unicodeScalars.count
            let matches = Completion.candidates(line: line, cursor: cursor, interp: interp)
            if matches.isEmpty { return nil }
            EditorState.matches = matches
            return rl_completion_matches(text) { _, state in
                let i = Int(state)
                guard i < EditorState.matches.count else { return nil }
                return strdup(EditorState.matches[i])
            }
        }
        using_history()
        stifle_history(2000)
        _ = read_history(historyPath)
        installInterruptHandler()
    }

    public func readLine(prompt: String) -> String? {
        EditorState.atPrompt = 1
        defer { EditorState.atPrompt = 0 }
        guard let p = readline(prompt) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    public func addHistory(_ entry: String) {
        let trimmed = entry.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return }
        add_history(entry)
        _ = write_history(historyPath)
    }
}
