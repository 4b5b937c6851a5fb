#include "microstudio/core/json.hpp"

#include <fstream>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"

namespace fs = std::filesystem;

namespace ms {

namespace {

// nlohmann's what() reads "[json.exception.parse_error.101] parse error at
// line 1, column 7: syntax error ..."; keep "line 1, column 7: syntax error
// ..." (the id and the repeated "parse error" say nothing to a user).
std::string parseReason(const std::string& what) {
    std::string reason = what;
    const std::size_t close = reason.find("] ");
    if (reason.rfind("[json.exception.", 0) == 0 && close != std::string::npos) reason = reason.substr(close + 2);
    const std::string repeated = "parse error at ";
    if (reason.rfind(repeated, 0) == 0) reason = reason.substr(repeated.size());
    return reason;
}

void expectType(const Json& value, bool ok, const char* expected, const std::string& key) {
    if (ok) return;
    const std::string where = key.empty() ? "JSON" : "JSON key '" + key + "'";
    throw Error(where + ": expected " + expected + ", found " + value.type_name());
}

}  // namespace

Json parseJson(const std::string& text, const std::string& source) {
    try {
        return Json::parse(text);
    } catch (const Json::parse_error& e) {
        throw Error(source + ": JSON parse error at byte " + std::to_string(e.byte) + ": " +
                    parseReason(e.what()));
    }
}

std::string jsonText(const Json& json, int indent) {
    return json.dump(indent, ' ', false, Json::error_handler_t::replace);
}

Json readJsonFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open " + path.string());
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) throw Error("cannot read " + path.string());
    return parseJson(buffer.str(), path.string());
}

void writeJsonFile(const Json& json, const fs::path& path) {
    const std::string text = jsonText(json, 2) + "\n";
    writeAtomically(path, [&](const fs::path& temp) {
        std::ofstream out(temp, std::ios::binary);
        out << text;
        if (!out.flush()) throw Error("cannot write " + path.string());
    });
}

const Json& memberAt(const Json& object, const std::string& key) {
    expectType(object, object.is_object(), "an object", "");
    const auto it = object.find(key);
    if (it == object.end()) throw Error("JSON: missing key '" + key + "'");
    return *it;
}

double numberAt(const Json& object, const std::string& key) {
    const Json& value = memberAt(object, key);
    expectType(value, value.is_number(), "a number", key);
    return value.get<double>();
}

double numberOr(const Json& object, const std::string& key, double fallback) {
    const auto it = object.is_object() ? object.find(key) : object.end();
    return it != object.end() && it->is_number() ? it->get<double>() : fallback;
}

std::string stringAt(const Json& object, const std::string& key) {
    const Json& value = memberAt(object, key);
    expectType(value, value.is_string(), "a string", key);
    return value.get<std::string>();
}

std::string stringOr(const Json& object, const std::string& key, const std::string& fallback) {
    const auto it = object.is_object() ? object.find(key) : object.end();
    return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

bool boolAt(const Json& object, const std::string& key) {
    const Json& value = memberAt(object, key);
    expectType(value, value.is_boolean(), "true or false", key);
    return value.get<bool>();
}

bool boolOr(const Json& object, const std::string& key, bool fallback) {
    const auto it = object.is_object() ? object.find(key) : object.end();
    return it != object.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

std::vector<double> numbersAt(const Json& object, const std::string& key) {
    const Json& value = memberAt(object, key);
    expectType(value, value.is_array(), "an array of numbers", key);
    std::vector<double> out;
    for (const Json& item : value) {
        expectType(item, item.is_number(), "an array of numbers", key);
        out.push_back(item.get<double>());
    }
    return out;
}

std::vector<std::string> stringsAt(const Json& object, const std::string& key) {
    const Json& value = memberAt(object, key);
    expectType(value, value.is_array(), "an array of strings", key);
    std::vector<std::string> out;
    for (const Json& item : value) {
        expectType(item, item.is_string(), "an array of strings", key);
        out.push_back(item.get<std::string>());
    }
    return out;
}

double asNumber(const Json& value) {
    expectType(value, value.is_number(), "a number", "");
    return value.get<double>();
}

const std::string& asString(const Json& value) {
    expectType(value, value.is_string(), "a string", "");
    return value.get_ref<const std::string&>();
}

std::vector<double> asNumbers(const Json& array) {
    expectType(array, array.is_array(), "an array", "");
    std::vector<double> out;
    for (const Json& item : array) out.push_back(asNumber(item));
    return out;
}

std::vector<std::string> asStrings(const Json& array) {
    expectType(array, array.is_array(), "an array", "");
    std::vector<std::string> out;
    for (const Json& item : array) out.push_back(asString(item));
    return out;
}

}  // namespace ms
