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

// Checks a value's JSON type: Json::is_number, is_string, is_boolean ...
using TypeCheck = bool (Json::*)() const noexcept;

// Member `key` of `object` as T; ms::Error naming the key unless it has the type.
template <class T>
T typedAt(const Json& object, const std::string& key, TypeCheck holds, const char* expected) {
    const Json& value = memberAt(object, key);
    expectType(value, (value.*holds)(), expected, key);
    return value.get<T>();
}

// Member `key` of `object` as T, or `fallback` when it is missing or of another type.
template <class T>
T typedOr(const Json& object, const std::string& key, TypeCheck holds, T fallback) {
    const auto it = object.is_object() ? object.find(key) : object.end();
    return it != object.end() && ((*it).*holds)() ? it->get<T>() : fallback;
}

// Array member `key` of `object` whose items all have the type, as T each.
template <class T>
std::vector<T> arrayAt(const Json& object, const std::string& key, TypeCheck holds, const char* expected) {
    const Json& value = memberAt(object, key);
    expectType(value, value.is_array(), expected, key);
    std::vector<T> out;
    for (const Json& item : value) {
        expectType(item, (item.*holds)(), expected, key);
        out.push_back(item.get<T>());
    }
    return out;
}

}  // namespace

Json parseJson(const std::string& text, const std::string& source) {
    try {
        return Json::parse(text);
    } catch (const Json::parse_error& e) {
        throw Error(source + ": JSON parse error at byte " + std::to_string(e.byte) + ": " + parseReason(e.what()));
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
    return typedAt<double>(object, key, &Json::is_number, "a number");
}

double numberOr(const Json& object, const std::string& key, double fallback) {
    return typedOr(object, key, &Json::is_number, fallback);
}

std::string stringAt(const Json& object, const std::string& key) {
    return typedAt<std::string>(object, key, &Json::is_string, "a string");
}

std::string stringOr(const Json& object, const std::string& key, const std::string& fallback) {
    return typedOr(object, key, &Json::is_string, fallback);
}

bool boolAt(const Json& object, const std::string& key) {
    return typedAt<bool>(object, key, &Json::is_boolean, "true or false");
}

bool boolOr(const Json& object, const std::string& key, bool fallback) {
    return typedOr(object, key, &Json::is_boolean, fallback);
}

std::vector<double> numbersAt(const Json& object, const std::string& key) {
    return arrayAt<double>(object, key, &Json::is_number, "an array of numbers");
}

std::vector<std::string> stringsAt(const Json& object, const std::string& key) {
    return arrayAt<std::string>(object, key, &Json::is_string, "an array of strings");
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
