// Reading torch.save'd state dicts: the pickle subset Python writes for a
// dict of tensors (protocol 2, as torch.save uses; the protocol-4 framing
// opcodes are accepted too), interpreted on a small stack machine.
#include "torch_state_dict.hpp"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <map>
#include <memory>

#include "microstudio/core/error.hpp"

namespace ms::ml::detail {

namespace {

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
    enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };
    Kind kind = Kind::None;
    std::int64_t integer = 0;  // Bool, Int
    double real = 0.0;
    std::string text;             // String; Global: "module.name"
    std::vector<ValuePtr> items;  // Tuple, List; Dict: key, value, key, value...
    PickledStorage storage;
    torch::Tensor tensor;
};

ValuePtr make(Value::Kind kind) {
    auto v = std::make_shared<Value>();
    v->kind = kind;
    return v;
}

const std::map<std::string, torch::ScalarType>& storageTypes() {
    static const std::map<std::string, torch::ScalarType> types{
        {"torch.FloatStorage", torch::kFloat}, {"torch.DoubleStorage", torch::kDouble},
        {"torch.HalfStorage", torch::kHalf},   {"torch.BFloat16Storage", torch::kBFloat16},
        {"torch.LongStorage", torch::kLong},   {"torch.IntStorage", torch::kInt},
        {"torch.ShortStorage", torch::kShort}, {"torch.CharStorage", torch::kChar},
        {"torch.ByteStorage", torch::kByte},   {"torch.BoolStorage", torch::kBool}};
    return types;
}

class Unpickler {
public:
    Unpickler(const char* data, std::size_t size, const std::function<torch::Tensor(const PickledStorage&)>& storage)
        : data_(data), size_(size), storage_(storage) {}

    ValuePtr run() {
        while (true) {
            const auto op = std::uint8_t(byte());
            if (op == '.') break;
            step(op);
        }
        if (stack_.size() != 1)
            throw Error("pickle ends with " + std::to_string(stack_.size()) + " values on its stack");
        return stack_.back();
    }

private:
    char byte() {
        need(1);
        return data_[pos_++];
    }
    void need(std::size_t n) const {
        if (n > size_ - pos_) throw Error("pickle truncated at byte " + std::to_string(pos_));
    }
    std::uint64_t littleEndian(std::size_t n) {
        need(n);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t(std::uint8_t(data_[pos_ + i])) << (8 * i);
        pos_ += n;
        return v;
    }
    std::string bytes(std::uint64_t n) {
        need(std::size_t(n));
        std::string s(data_ + pos_, std::size_t(n));
        pos_ += std::size_t(n);
        return s;
    }
    std::string line() {
        const auto* end = static_cast<const char*>(std::memchr(data_ + pos_, '\n', size_ - pos_));
        if (!end) throw Error("pickle truncated in a GLOBAL name");
        std::string s(data_ + pos_, end);
        pos_ = std::size_t(end - data_) + 1;
        return s;
    }
    ValuePtr pop() {
        if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
            throw Error("pickle pops an empty stack at byte " + std::to_string(pos_));
        auto v = stack_.back();
        stack_.pop_back();
        return v;
    }
    std::vector<ValuePtr> popToMark() {
        if (marks_.empty()) throw Error("pickle has no MARK at byte " + std::to_string(pos_));
        std::vector<ValuePtr> items(stack_.begin() + std::ptrdiff_t(marks_.back()), stack_.end());
        stack_.resize(marks_.back());
        marks_.pop_back();
        return items;
    }
    ValuePtr& top() {
        if (stack_.empty()) throw Error("pickle reads an empty stack at byte " + std::to_string(pos_));
        return stack_.back();
    }
    void push(ValuePtr v) { stack_.push_back(std::move(v)); }
    void pushInt(std::int64_t i) {
        auto v = make(Value::Kind::Int);
        v->integer = i;
        push(v);
    }
    void pushTuple(std::vector<ValuePtr> items) {
        auto v = make(Value::Kind::Tuple);
        v->items = std::move(items);
        push(v);
    }
    void pushString(std::string s) {
        auto v = make(Value::Kind::String);
        v->text = std::move(s);
        push(v);
    }
    void pushGlobal(const std::string& module, const std::string& name) {
        auto v = make(Value::Kind::Global);
        v->text = module + "." + name;
        push(v);
    }
    void memoGet(std::uint64_t index) {
        const auto it = memo_.find(index);
        if (it == memo_.end()) throw Error("pickle reads memo " + std::to_string(index) + " before writing it");
        push(it->second);
    }
    void setItems(std::vector<ValuePtr> items) {
        auto& dict = top();
        if (dict->kind != Value::Kind::Dict || items.size() % 2) throw Error("pickle sets items on a non-dict");
        for (auto& i : items) dict->items.push_back(std::move(i));
    }
    void appendItems(std::vector<ValuePtr> items) {
        auto& list = top();
        if (list->kind != Value::Kind::List) throw Error("pickle appends to a non-list");
        for (auto& i : items) list->items.push_back(std::move(i));
    }

    void step(std::uint8_t op);
    ValuePtr reduce(const Value& callable, const Value& args);
    ValuePtr persistent(const Value& id);
    torch::Tensor rebuildTensor(const std::vector<ValuePtr>& args);

    const char* data_;
    std::size_t size_, pos_ = 0;
    const std::function<torch::Tensor(const PickledStorage&)>& storage_;
    std::vector<ValuePtr> stack_;
    std::vector<std::size_t> marks_;
    std::map<std::uint64_t, ValuePtr> memo_;
};

void Unpickler::step(std::uint8_t op) {
    switch (op) {
        case 0x80:
            byte();
            break;  // PROTO
        case 0x95:
            littleEndian(8);
            break;  // FRAME (protocol 4)
        case '(':
            marks_.push_back(stack_.size());
            break;  // MARK
        case 'N':
            push(make(Value::Kind::None));
            break;
        case 0x88:
        case 0x89: {  // NEWTRUE, NEWFALSE
            auto v = make(Value::Kind::Bool);
            v->integer = op == 0x88;
            push(v);
            break;
        }
        case 'J':
            pushInt(std::int32_t(std::uint32_t(littleEndian(4))));
            break;  // BININT
        case 'K':
            pushInt(std::int64_t(littleEndian(1)));
            break;  // BININT1
        case 'M':
            pushInt(std::int64_t(littleEndian(2)));
            break;    // BININT2
        case 0x8a: {  // LONG1
            const auto n = std::size_t(littleEndian(1));
            if (n > 8) throw Error("pickle integer of " + std::to_string(n) + " bytes");
            std::uint64_t v = n ? littleEndian(n) : 0;
            if (n && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~std::uint64_t(0) << (8 * n);  // sign-extend
            pushInt(std::int64_t(v));
            break;
        }
        case 'G': {  // BINFLOAT, big-endian
            need(8);
            std::uint64_t bits = 0;
            for (int i = 0; i < 8; ++i) bits = (bits << 8) | std::uint8_t(data_[pos_ + std::size_t(i)]);
            pos_ += 8;
            auto v = make(Value::Kind::Float);
            std::memcpy(&v->real, &bits, sizeof bits);
            push(v);
            break;
        }
        case 'X':
            pushString(bytes(littleEndian(4)));
            break;  // BINUNICODE
        case 0x8c:
            pushString(bytes(littleEndian(1)));
            break;  // SHORT_BINUNICODE
        case ']':
            push(make(Value::Kind::List));
            break;  // EMPTY_LIST
        case '}':
            push(make(Value::Kind::Dict));
            break;  // EMPTY_DICT
        case ')':
            pushTuple({});
            break;  // EMPTY_TUPLE
        case 't':
            pushTuple(popToMark());
            break;  // TUPLE
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
            std::vector<ValuePtr> items(std::size_t(op - 0x84));
            for (auto i = items.rbegin(); i != items.rend(); ++i) *i = pop();
            pushTuple(std::move(items));
            break;
        }
        case 'a': {  // APPEND
            auto v = pop();
            appendItems({v});
            break;
        }
        case 'e':
            appendItems(popToMark());
            break;   // APPENDS
        case 's': {  // SETITEM
            auto value = pop();
            auto key = pop();
            setItems({key, value});
            break;
        }
        case 'u':
            setItems(popToMark());
            break;   // SETITEMS
        case 'c': {  // GLOBAL
            const auto module = line();
            pushGlobal(module, line());
            break;
        }
        case 0x93: {  // STACK_GLOBAL
            auto name = pop(), module = pop();
            if (name->kind != Value::Kind::String || module->kind != Value::Kind::String)
                throw Error("pickle STACK_GLOBAL without names");
            pushGlobal(module->text, name->text);
            break;
        }
        case 'Q':
            push(persistent(*pop()));
            break;   // BINPERSID
        case 'R': {  // REDUCE
            auto args = pop();
            auto callable = pop();
            push(reduce(*callable, *args));
            break;
        }
        case 'b': {  // BUILD: a state dict's _metadata (layer versions) is not needed
            pop();
            if (top()->kind != Value::Kind::Dict) throw Error("pickle BUILDs an object other than a dict");
            break;
        }
        case 'q':
            memo_[littleEndian(1)] = top();
            break;  // BINPUT
        case 'r':
            memo_[littleEndian(4)] = top();
            break;  // LONG_BINPUT
        case 0x94:
            memo_[memo_.size()] = top();
            break;  // MEMOIZE
        case 'h':
            memoGet(littleEndian(1));
            break;  // BINGET
        case 'j':
            memoGet(littleEndian(4));
            break;  // LONG_BINGET
        default: {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02x", unsigned(op));
            throw Error(std::string("pickle opcode ") + hex + " at byte " + std::to_string(pos_ - 1) +
                        " is not one torch.save writes for a state dict");
        }
    }
}

ValuePtr Unpickler::reduce(const Value& callable, const Value& args) {
    if (callable.kind != Value::Kind::Global || args.kind != Value::Kind::Tuple)
        throw Error("pickle REDUCE without a global and its arguments");
    if (callable.text == "collections.OrderedDict" && args.items.empty()) return make(Value::Kind::Dict);
    if (callable.text == "torch._utils._rebuild_tensor_v2") {
        auto v = make(Value::Kind::Tensor);
        v->tensor = rebuildTensor(args.items);
        return v;
    }
    // LibTorch's own writer (torch::pickle_save) tags typed dicts: restore_type_tag(dict, "Dict[str, Tensor]").
    if (callable.text == "torch.jit._pickle.restore_type_tag" && !args.items.empty() &&
        args.items[0]->kind == Value::Kind::Dict)
        return args.items[0];
    if (callable.text == "torch._utils._rebuild_parameter" && !args.items.empty() &&
        args.items[0]->kind == Value::Kind::Tensor)
        return args.items[0];
    throw Error("pickle calls " + callable.text + ", which a state dict of tensors does not");
}

// ('storage', torch.XStorage, key, location, numel)
ValuePtr Unpickler::persistent(const Value& id) {
    const auto& f = id.items;
    if (id.kind != Value::Kind::Tuple || f.size() != 5 || f[0]->kind != Value::Kind::String ||
        f[0]->text != "storage" || f[1]->kind != Value::Kind::Global || f[2]->kind != Value::Kind::String ||
        f[4]->kind != Value::Kind::Int || f[4]->integer < 0)
        throw Error("pickle has a persistent id other than a tensor storage");
    const auto type = storageTypes().find(f[1]->text);
    if (type == storageTypes().end()) throw Error("pickle names an unknown storage type " + f[1]->text);
    auto v = make(Value::Kind::Storage);
    v->storage = {type->second, f[2]->text, f[4]->integer};
    return v;
}

// _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
torch::Tensor Unpickler::rebuildTensor(const std::vector<ValuePtr>& a) {
    const auto isIntTuple = [](const ValuePtr& v) {
        if (v->kind != Value::Kind::Tuple) return false;
        for (const auto& i : v->items)
            if (i->kind != Value::Kind::Int || i->integer < 0) return false;
        return true;
    };
    if (a.size() < 4 || a[0]->kind != Value::Kind::Storage || a[1]->kind != Value::Kind::Int || a[1]->integer < 0 ||
        !isIntTuple(a[2]) || !isIntTuple(a[3]) || a[2]->items.size() != a[3]->items.size())
        throw Error("pickle rebuilds a tensor from malformed arguments");
    std::vector<std::int64_t> size, stride;
    std::int64_t last = a[1]->integer, count = 1;  // highest element index the view reads; elements
    bool overflow = false;
    for (std::size_t d = 0; d < a[2]->items.size(); ++d) {
        size.push_back(a[2]->items[d]->integer);
        stride.push_back(a[3]->items[d]->integer);
        std::int64_t reach = 0;
        overflow |= __builtin_mul_overflow(count, size.back(), &count);
        if (size.back() > 0)
            overflow |= __builtin_mul_overflow(size.back() - 1, stride.back(), &reach) ||
                        __builtin_add_overflow(last, reach, &last);
    }
    const auto& s = a[0]->storage;
    if (overflow) throw Error("a tensor of storage " + s.key + " claims a size beyond 64-bit indices");
    if (count > 0 && last >= s.numel)
        throw Error("a tensor reads element " + std::to_string(last) + " of storage " + s.key + ", which holds " +
                    std::to_string(s.numel));
    // More elements than the storage only with a zero stride, which no saved parameter has.
    if (count > s.numel)
        throw Error("a tensor of " + std::to_string(count) + " elements views storage " + s.key + " of " +
                    std::to_string(s.numel));
    const auto whole = storage_(s);
    if (whole.numel() != s.numel) throw Error("storage " + s.key + " does not hold its claimed elements");
    return whole.as_strided(size, stride, a[1]->integer).clone();
}

}  // namespace

StateDict unpickleStateDict(const char* data, std::size_t size,
                            const std::function<torch::Tensor(const PickledStorage&)>& storage) {
    const auto root = Unpickler(data, size, storage).run();
    if (root->kind != Value::Kind::Dict) throw Error("the pickle holds no dict (a state dict is one)");
    StateDict out;
    for (std::size_t i = 0; i + 1 < root->items.size(); i += 2) {
        const auto& key = root->items[i];
        const auto& value = root->items[i + 1];
        if (key->kind != Value::Kind::String || value->kind != Value::Kind::Tensor)
            throw Error("entry " + std::to_string(i / 2) + " of the dict is not a named tensor");
        out.emplace_back(key->text, value->tensor);
    }
    return out;
}

StateDict readTorchStateDict(const std::filesystem::path& file) {
    const std::string where = file.string() + ": ";
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) throw Error(where + "no such file");
    try {
        caffe2::serialize::PyTorchStreamReader reader(file.string());
        if (!reader.hasRecord("data.pkl")) throw Error("no data.pkl record (not a torch.save file)");
        if (reader.hasRecord("byteorder")) {  // written since PyTorch 2.1; little-endian before
            auto [order, n] = reader.getRecord("byteorder");
            if (std::string(static_cast<const char*>(order.get()), n) != "little")
                throw Error("big-endian tensors are not supported");
        }
        std::map<std::string, torch::Tensor> loaded;  // storages by key, each read once
        auto storage = [&](const PickledStorage& s) {
            auto& t = loaded[s.key];
            if (t.defined()) return t;
            const std::string record = "data/" + s.key;
            if (!reader.hasRecord(record)) throw Error("storage " + s.key + " is missing from the archive");
            auto [bytes, n] = reader.getRecord(record);
            const auto elementSize = std::int64_t(c10::elementSize(s.dtype));
            if (s.numel > std::int64_t(n) / elementSize || std::int64_t(n) != s.numel * elementSize)
                throw Error("storage " + s.key + " holds " + std::to_string(n) + " bytes, the pickle claims " +
                            std::to_string(s.numel) + " elements of " + std::to_string(elementSize));
            t = torch::empty({s.numel}, torch::TensorOptions().dtype(s.dtype));
            if (n) std::memcpy(t.data_ptr(), bytes.get(), n);
            return t;
        };
        auto [pickle, size] = reader.getRecord("data.pkl");
        return unpickleStateDict(static_cast<const char*>(pickle.get()), size, storage);
    } catch (const Error& e) {
        throw Error(where + e.what());
    } catch (const c10::Error& e) {
        std::string reason = e.what_without_backtrace();
        reason = reason.substr(0, reason.find('\n'));
        throw Error(where + "not a readable torch.save archive (" + reason + ")");
    }
}

}  // namespace ms::ml::detail
