// The tiny JSON value of json.hpp.
#include "microstudio/ml/json.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/core/json_text.hpp"
#include "microstudio/core/files.hpp"

namespace ms::ml {

Json::Json(Array items) : type_(Type::Array), array_(std::make_shared<Array>(std::move(items))) {}

Json::Json(const std::vector<double>& numbers) : Json(Array{}) {
    for (double v : numbers) array_->push_back(Json(v));
}

Json::Json(const std::vector<std::string>& strings) : Json(Array{}) {
    for (const auto& s : strings) array_->push_back(Json(s));
}

Json::Json(const Json& other)
    : type_(other.type_), bool_(other.bool_), number_(other.number_), string_(other.string_) {
    if (other.array_) array_ = std::make_shared<Array>(*other.array_);
    if (other.object_) object_ = std::make_shared<Object>(*other.object_);
}

Json& Json::operator=(const Json& other) {
    if (this != &other) {
        Json copy(other);
        *this = std::move(copy);
    }
    return *this;
}

namespace {
const char* typeName(Json::Type t) {
    switch (t) {
        case Json::Type::Null: return "null";
        case Json::Type::Bool: return "bool";
        case Json::Type::Number: return "number";
        case Json::Type::String: return "string";
        case Json::Type::Array: return "array";
        case Json::Type::Object: return "object";
    }
    return "?";
}
void expect(const Json& j, Json::Type t) {
    if (j.type() != t) throw Error(std::string("JSON: expected ") + typeName(t) + ", found " + typeName(j.type()));
}
}  // namespace

bool Json::boolean() const { expect(*this, Type::Bool); return bool_; }
double Json::number() const { expect(*this, Type::Number); return number_; }
const std::string& Json::string() const { expect(*this, Type::String); return string_; }
const Json::Array& Json::items() const { expect(*this, Type::Array); return *array_; }
Json::Array& Json::items() { expect(*this, Type::Array); return *array_; }
const Json::Object& Json::members() const { expect(*this, Type::Object); return *object_; }

std::vector<double> Json::numbers() const {
    std::vector<double> out;
    for (const auto& item : items()) out.push_back(item.number());
    return out;
}

std::vector<std::string> Json::strings() const {
    std::vector<std::string> out;
    for (const auto& item : items()) out.push_back(item.string());
    return out;
}

Json& Json::operator[](const std::string& key) {
    if (type_ == Type::Null) *this = object();
    expect(*this, Type::Object);
    return (*object_)[key];
}

bool Json::has(const std::string& key) const { return type_ == Type::Object && object_->count(key) > 0; }

const Json& Json::at(const std::string& key) const {
    expect(*this, Type::Object);
    auto it = object_->find(key);
    if (it == object_->end()) throw Error("JSON: missing key '" + key + "'");
    return it->second;
}

double Json::number(const std::string& key, double fallback) const {
    return has(key) && at(key).isNumber() ? at(key).number() : fallback;
}

std::string Json::string(const std::string& key, const std::string& fallback) const {
    return has(key) && at(key).isString() ? at(key).string() : fallback;
}

void Json::push(Json value) {
    if (type_ == Type::Null) *this = array();
    expect(*this, Type::Array);
    array_->push_back(std::move(value));
}

namespace {

void escapeTo(std::string& out, const std::string& s) { out += jsonQuoted(s); }

std::string numberText(double v) {
    if (!std::isfinite(v)) return "null";  // JSON has no inf/NaN
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.0f", v);
        return buf;
    }
    char buf[40];
    for (int precision = 6; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

}  // namespace

void Json::dumpTo(std::string& out, int indent, int depth) const {
    auto newline = [&](int d) {
        if (indent <= 0) return;
        out += '\n';
        out.append(std::size_t(indent * d), ' ');
    };
    switch (type_) {
        case Type::Null: out += "null"; break;
        case Type::Bool: out += bool_ ? "true" : "false"; break;
        case Type::Number: out += numberText(number_); break;
        case Type::String: escapeTo(out, string_); break;
        case Type::Array: {
            if (array_->empty()) { out += "[]"; break; }
            // Arrays of plain numbers stay on one line (loss curves, shapes).
            bool flat = true;
            for (const auto& item : *array_) flat = flat && (item.type_ == Type::Number || item.type_ == Type::Null);
            out += '[';
            for (std::size_t i = 0; i < array_->size(); ++i) {
                if (i) out += flat || indent <= 0 ? ", " : ",";
                if (!flat) newline(depth + 1);
                (*array_)[i].dumpTo(out, indent, depth + 1);
            }
            if (!flat) newline(depth);
            out += ']';
            break;
        }
        case Type::Object: {
            if (object_->empty()) { out += "{}"; break; }
            out += '{';
            bool first = true;
            for (const auto& [key, value] : *object_) {
                if (!first) out += ',';
                first = false;
                newline(depth + 1);
                escapeTo(out, key);
                out += indent > 0 ? ": " : ":";
                value.dumpTo(out, indent, depth + 1);
            }
            newline(depth);
            out += '}';
            break;
        }
    }
}

std::string Json::dump(int indent) const {
    std::string out;
    dumpTo(out, indent, 0);
    return out;
}

namespace {

class Parser {
public:
    explicit Parser(const std::string& text) : s_(text) {}

    Json document() {
        Json value = parseValue();
        skipSpace();
        if (pos_ != s_.size()) fail("trailing characters");
        return value;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw Error("JSON: " + what + " at offset " + std::to_string(pos_));
    }
    void skipSpace() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
    }
    bool consume(const char* word) {
        std::size_t n = std::char_traits<char>::length(word);
        if (s_.compare(pos_, n, word) == 0) { pos_ += n; return true; }
        return false;
    }
    Json parseValue() {
        if (++depth_ > 200) fail("nesting too deep");
        skipSpace();
        if (pos_ >= s_.size()) fail("unexpected end");
        Json result;
        const char c = s_[pos_];
        if (c == '{') {
            ++pos_;
            result = Json::object();
            skipSpace();
            if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; }
            else {
                for (;;) {
                    skipSpace();
                    if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a key");
                    std::string key = parseString();
                    skipSpace();
                    if (pos_ >= s_.size() || s_[pos_] != ':') fail("expected ':'");
                    ++pos_;
                    result[key] = parseValue();
                    skipSpace();
                    if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
                    if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; break; }
                    fail("expected ',' or '}'");
                }
            }
        } else if (c == '[') {
            ++pos_;
            result = Json::array();
            skipSpace();
            if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; }
            else {
                for (;;) {
                    result.push(parseValue());
                    skipSpace();
                    if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
                    if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; break; }
                    fail("expected ',' or ']'");
                }
            }
        } else if (c == '"') {
            result = Json(parseString());
        } else if (consume("true")) {
            result = Json(true);
        } else if (consume("false")) {
            result = Json(false);
        } else if (consume("null")) {
            result = Json();
        } else {
            const char* begin = s_.c_str() + pos_;
            char* end = nullptr;
            double v = std::strtod(begin, &end);
            if (end == begin) fail("unexpected character");
            pos_ += std::size_t(end - begin);
            result = Json(v);
        }
        --depth_;
        return result;
    }
    std::string parseString() {
        ++pos_;  // opening quote
        std::string out;
        while (pos_ < s_.size() && s_[pos_] != '"') {
            char c = s_[pos_++];
            if (c != '\\') { out += c; continue; }
            if (pos_ >= s_.size()) fail("bad escape");
            char e = s_[pos_++];
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'u': {
                    if (pos_ + 4 > s_.size()) fail("bad \\u escape");
                    unsigned code = unsigned(std::strtoul(s_.substr(pos_, 4).c_str(), nullptr, 16));
                    pos_ += 4;
                    if (code < 0x80) out += char(code);
                    else if (code < 0x800) { out += char(0xC0 | (code >> 6)); out += char(0x80 | (code & 0x3F)); }
                    else { out += char(0xE0 | (code >> 12)); out += char(0x80 | ((code >> 6) & 0x3F)); out += char(0x80 | (code & 0x3F)); }
                    break;
                }
                default: out += e;
            }
        }
        if (pos_ >= s_.size()) fail("unterminated string");
        ++pos_;
        return out;
    }

    const std::string& s_;
    std::size_t pos_ = 0;
    int depth_ = 0;
};

}  // namespace

Json Json::parse(const std::string& text) { return Parser(text).document(); }

Json readJsonFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open " + path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    try {
        return Json::parse(buffer.str());
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
}

void writeJsonFile(const Json& json, const std::string& path) {
    const std::string text = json.dump(2) + "\n";
    writeAtomically(path, [&](const std::filesystem::path& temp) {
        std::ofstream out(temp, std::ios::binary);
        out << text;
        if (!out.flush()) throw Error("cannot write " + path);
    });
}

}  // namespace ms::ml
