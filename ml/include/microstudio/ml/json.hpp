#pragma once
// A tiny JSON value for model metadata (written beside the weights) and
// training reports: null, bool, number, string, array, object (keys
// sorted). Enough for what ml/ writes and reads back; not a general parser
// for exotic input (no \u surrogate pairs beyond the BMP).
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ms::ml {

class Json {
public:
    enum class Type { Null, Bool, Number, String, Array, Object };
    using Array = std::vector<Json>;
    using Object = std::map<std::string, Json>;

    Json() = default;
    Json(std::nullptr_t) {}
    Json(bool value) : type_(Type::Bool), bool_(value) {}
    Json(double value) : type_(Type::Number), number_(value) {}
    Json(int value) : Json(double(value)) {}
    Json(long value) : Json(double(value)) {}
    Json(long long value) : Json(double(value)) {}
    Json(unsigned long value) : Json(double(value)) {}
    Json(unsigned long long value) : Json(double(value)) {}
    Json(const char* value) : type_(Type::String), string_(value) {}
    Json(std::string value) : type_(Type::String), string_(std::move(value)) {}
    Json(Array items);
    Json(const std::vector<double>& numbers);
    Json(const std::vector<std::string>& strings);
    static Json object() { Json j; j.type_ = Type::Object; j.object_ = std::make_shared<Object>(); return j; }
    static Json array() { return Json(Array{}); }

    Type type() const { return type_; }
    bool isNull() const { return type_ == Type::Null; }
    bool isNumber() const { return type_ == Type::Number; }
    bool isString() const { return type_ == Type::String; }
    bool isArray() const { return type_ == Type::Array; }
    bool isObject() const { return type_ == Type::Object; }

    // Typed access; throws ms::Error naming the expected type on mismatch.
    bool boolean() const;
    double number() const;
    const std::string& string() const;
    const Array& items() const;
    Array& items();
    const Object& members() const;
    std::vector<double> numbers() const;      // array of numbers
    std::vector<std::string> strings() const;  // array of strings

    // Object access. operator[] makes `this` an object when null and inserts.
    Json& operator[](const std::string& key);
    bool has(const std::string& key) const;
    const Json& at(const std::string& key) const;  // throws ms::Error when missing
    double number(const std::string& key, double fallback) const;
    std::string string(const std::string& key, const std::string& fallback) const;
    void push(Json value);  // array append (null becomes an array)

    // Pretty-printed with `indent` spaces (0 = one line). Numbers use the
    // shortest text that reads back to the same double.
    std::string dump(int indent = 2) const;
    // Throws ms::Error with the offset on malformed text.
    static Json parse(const std::string& text);

private:
    void dumpTo(std::string& out, int indent, int depth) const;

    Type type_ = Type::Null;
    bool bool_ = false;
    double number_ = 0.0;
    std::string string_;
    std::shared_ptr<Array> array_;    // shared_ptr: Json stays copyable with an incomplete type
    std::shared_ptr<Object> object_;  // copies are deep (see copy constructor)

public:
    Json(const Json& other);
    Json& operator=(const Json& other);
    Json(Json&&) noexcept = default;
    Json& operator=(Json&&) noexcept = default;
};

// Reads / writes (atomically) a JSON file; errors name the file.
Json readJsonFile(const std::string& path);
void writeJsonFile(const Json& json, const std::string& path);

}  // namespace ms::ml
