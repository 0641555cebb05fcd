// Support: the training fixtures folder (Tests/Fixtures/train) and a JSON reader for it.
import Foundation
import Train

let trainFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/train")

func loadJSON(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: trainFixtures.appendingPathComponent(name))
    guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw TrainError.data(name, 0, "not a JSON object")
    }
    return obj
}
