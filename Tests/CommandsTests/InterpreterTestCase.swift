// InterpreterTestCase: the session tests of this module share one fixture: a fresh interpreter
// with every command, its printed output collected, `run` (what the code printed) and `error`
// (the message of the error the code raises). LLX_MEMORY_LIMIT, which tests lower to force a
// refusal, is cleared after each test. Holds no tests of its own.
import XCTest
import Foundation
import Lang
import Commands

class InterpreterTestCase: XCTestCase {
    var interp: Interpreter!
    var out = ""

    override func setUp() {
        super.setUp()
        interp = Commands.makeInterpreter()
        out = ""
        interp.output = { [unowned self] s in self.out += s }
    }

    override func tearDown() {
        unsetenv("LLX_MEMORY_LIMIT")
        super.tearDown()
    }

    /// Runs code and returns what it printed (clearing the buffer).
    @discardableResult
    func run(_ code: String) throws -> String {
        out = ""
        try interp.run(code, file: "t.llx")
        return out
    }

    /// The message of the error the code raises (fails when it raises none).
    func error(_ code: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try interp.run(code, file: "t.llx")
            XCTFail("no error from: \(code)", file: file, line: line)
            return ""
        } catch {
            return "\(error)"
        }
    }
}
