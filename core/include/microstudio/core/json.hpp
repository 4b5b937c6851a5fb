#pragma once
// JSON for every file and report MicroStudio reads or writes: nlohmann::json
// (objects keep their keys sorted; doubles are written as the shortest text
// that reads back to the same value), plus file helpers and typed accessors
// whose errors are one-line ms::Error messages naming the file or the key.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ms {

using Json = nlohmann::json;

// Parses text; a malformed document throws ms::Error
// "<source>: JSON parse error at byte N: <reason>".
Json parseJson(const std::string& text, const std::string& source = "JSON text");

// The text of json, `indent` spaces per level (-1: one line). Strings that
// are not valid UTF-8 are written with U+FFFD instead of throwing.
std::string jsonText(const Json& json, int indent = 2);

// Reads a JSON file; errors name the file (cannot open / parse error at byte N).
Json readJsonFile(const std::filesystem::path& path);
// Writes json (2-space indent, final newline) atomically: a temp file in the
// same folder, then a rename, so readers never see half a file.
void writeJsonFile(const Json& json, const std::filesystem::path& path);

// Typed access to an object's members. The *At forms throw ms::Error naming
// the key and the expected type when the key is missing or of another type;
// the *Or forms return fallback then.
const Json& memberAt(const Json& object, const std::string& key);
double numberAt(const Json& object, const std::string& key);
double numberOr(const Json& object, const std::string& key, double fallback);
std::string stringAt(const Json& object, const std::string& key);
std::string stringOr(const Json& object, const std::string& key, const std::string& fallback);
bool boolAt(const Json& object, const std::string& key);
bool boolOr(const Json& object, const std::string& key, bool fallback);
std::vector<double> numbersAt(const Json& object, const std::string& key);
std::vector<std::string> stringsAt(const Json& object, const std::string& key);

// Typed access to a value itself (an array item); throws ms::Error naming the
// expected type.
double asNumber(const Json& value);
const std::string& asString(const Json& value);
std::vector<double> asNumbers(const Json& array);
std::vector<std::string> asStrings(const Json& array);

}  // namespace ms
