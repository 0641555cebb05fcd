// Line input: GNU readline at a terminal (editing, history in $LLX_HISTORY,
// $XDG_STATE_HOME/llx/history or $HOME/.llx_history, Ctrl-R reverse search, tab completion
// through `Completion`), plain lines from a pipe otherwise. Ctrl-C at the prompt clears the
// line (at a `...>` prompt it drops the whole pending entry); during a command it sets the
// cancellation flag.
import Foundation
import CReadline
import Lang

/// Where the REPL reads its lines from.
public protocol LineReader: AnyObject {
    /// The next line without its newline; nil at end of input (Ctrl-D).
    func readLine(prompt: String) -> String?
    func addHistory(_ entry: String)
    /// True once after Ctrl-C was pressed while the last line was being read.
    func takeInterrupt() -> Bool
    /// Marks the last history entry (`entry`) as stopped by Ctrl-C.
    func markInterrupted(_ entry: String)
}

public extension LineReader {
    func takeInterrupt() -> Bool { false }
    func markInterrupted(_ entry: String) {}
}

/// How an interrupted entry is kept in the history: still runnable (a comment follows it).
public func interruptedHistoryEntry(_ entry: String) -> String { entry + "  # interrupted" }

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
    /// Set by Ctrl-C at a prompt: at a `...>` prompt it drops the pending entry.
    nonisolated(unsafe) static var interruptedAtPrompt: Int32 = 0
    /// The main prompt as a C string made before any signal can arrive (the handler shows it).
    nonisolated(unsafe) static let mainPrompt: UnsafeMutablePointer<CChar> = strdup("llx> ")
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
            EditorState.interruptedAtPrompt = 1
            rl_free_line_state()
            rl_replace_line("", 0)
            // at a continuation prompt the pending lines are dropped: show the main prompt
            if EditorState.atPrompt == 2 { rl_set_prompt(EditorState.mainPrompt) }
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
        historyPath = ReadlineReader.historyPath(ProcessInfo.processInfo.environment)
        rl_readline_name = UnsafePointer(strdup("llx"))
        rl_sort_completion_matches = 0   // Completion orders them: named arguments first
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
        _ = EditorState.mainPrompt   // made now, not first in the signal handler
        using_history()
        stifle_history(2000)
        _ = read_history(historyPath)
        installInterruptHandler()
    }

    /// Where the history goes: $LLX_HISTORY; else $XDG_STATE_HOME/llx/history when that is
    /// set; else ~/.llx_history with ~ from $HOME (the account's home only when HOME is unset).
    public static func historyPath(_ env: [String: String]) -> String {
        if let p = env["LLX_HISTORY"], !p.isEmpty { return p }
        if let state = env["XDG_STATE_HOME"], state.hasPrefix("/") {
            let dir = (state as NSString).appendingPathComponent("llx")
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            return (dir as NSString).appendingPathComponent("history")
        }
        let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".llx_history")
    }

    public func takeInterrupt() -> Bool {
        defer { EditorState.interruptedAtPrompt = 0 }
        return EditorState.interruptedAtPrompt != 0
    }

    public func readLine(prompt: String) -> String? {
        EditorState.atPrompt = prompt.hasPrefix("...") ? 2 : 1
        EditorState.interruptedAtPrompt = 0
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

    public func markInterrupted(_ entry: String) {
        guard history_length > 0, let last = history_get(history_base + history_length - 1),
              let line = last.pointee.line, String(cString: line) == entry else { return }
        if let old = remove_history(history_length - 1) { _ = free_history_entry(old) }
        add_history(interruptedHistoryEntry(entry))
        _ = write_history(historyPath)
    }
}
