#include "receive/report_scan.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>

#include "report/report_schema.hpp"
#include "report/verify.hpp"

namespace overflowd::receive {

namespace {

// Where a value sits: the objects on the way to a kept field, and the fields themselves (a field's
// slot is first_field plus its row in the report schema, report/report_schema.hpp).
enum class Slot : std::uint8_t {
  none,
  root,
  contact,
  metadata,
  flowdata,
  sourcetype,
  data,
  reason_item,   // an element of metadata.reasons (an object)
  reason_class,  // its "class" member
  first_field,
};

bool is_container(Slot s) noexcept { return s >= Slot::root && s <= Slot::data; }

Slot field_slot(report::Section section, std::string_view key) noexcept {
  const report::SchemaField* row = report::find_field(section, key);
  if (!row) return Slot::none;
  const auto index = static_cast<std::size_t>(row - report::report_schema().data());
  return static_cast<Slot>(static_cast<std::size_t>(Slot::first_field) + index);
}

// The schema row of a field's slot, or null for a container or none.
const report::SchemaField* field_of(Slot s) noexcept {
  if (s < Slot::first_field) return nullptr;
  return &report::report_schema()[static_cast<std::size_t>(s) - static_cast<std::size_t>(Slot::first_field)];
}

// The slot of member `key` of an object in slot `parent`: a container on the way to the kept
// fields, or a field of the schema section the parent holds.
Slot child(Slot parent, std::string_view key) noexcept {
  struct Step {
    Slot parent;
    std::string_view key;
    Slot slot;
  };
  static constexpr Step kPath[] = {{Slot::root, "contact", Slot::contact},   {Slot::root, "flowdata", Slot::flowdata},
                                   {Slot::root, "metadata", Slot::metadata}, {Slot::flowdata, "data", Slot::data},
                                   {Slot::flowdata, "sourcetype", Slot::sourcetype}};
  for (const Step& s : kPath)
    if (s.parent == parent && s.key == key) return s.slot;
  struct Holds {
    Slot slot;
    report::Section section;
  };
  static constexpr Holds kSections[] = {{Slot::contact, report::Section::contact},
                                        {Slot::metadata, report::Section::metadata},
                                        {Slot::sourcetype, report::Section::sourcetype},
                                        {Slot::data, report::Section::data}};
  for (const Holds& h : kSections)
    if (h.slot == parent) return field_slot(h.section, key);
  if (parent == Slot::reason_item && key == "class") return Slot::reason_class;
  return Slot::none;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Bytes that stand for themselves inside a JSON string: printable ASCII but the quote and the
// backslash. Anything else ends a run of them (the end, an escape, a control byte, UTF-8).
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> t{};
  for (unsigned c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

class Scanner {
public:
  Scanner(std::string_view s, ReportFields& f, ScanFacts& facts) noexcept
      : p_(reinterpret_cast<const unsigned char*>(s.data())), end_(p_ + s.size()), f_(f), facts_(facts) {}

  bool run() {
    ws();
    if (p_ >= end_ || *p_ != '{') return false;  // not an object (or a byte-order mark): not sure
    if (!value(Slot::root)) return false;
    ws();
    return p_ == end_;
  }

private:
  void ws() noexcept {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool value(Slot slot) {
    ws();
    if (p_ >= end_) return false;
    switch (*p_) {
      case '{':
        return object(is_container(slot) || slot == Slot::reason_item ? slot : Slot::none);
      case '[': {
        const report::SchemaField* field = field_of(slot);
        if (field && field->reason_classes) {
          reasons_ = &(f_.*field->text);
          return array(Slot::reason_item);
        }
        return array(Slot::none);
      }
      case '"':
        return string_value(slot);
      case 't':
      case 'f': {
        const bool v = *p_ == 't';
        if (!literal(v ? "true" : "false")) return false;
        if (const report::SchemaField* field = field_of(slot); field && field->type == report::FieldType::boolean)
          f_.*field->flag = v;
        return true;
      }
      case 'n':
        return literal("null");
      default:
        return number(slot);
    }
  }

  // The elements of an object or an array, p_ at its opening bracket: `element` reads one (for an
  // object, a member: name, colon, value) and the elements are separated by commas up to `close`.
  template <class Element>
  bool elements(char close, Element&& element) {
    if (++depth_ > report::kMaxDepth) return false;
    ++p_;  // '{' or '['
    ws();
    if (p_ < end_ && *p_ == close) {
      ++p_;
    } else {
      for (;;) {
        if (!element()) return false;
        ws();
        if (p_ >= end_) return false;
        if (*p_ == ',') {
          ++p_;
          continue;
        }
        if (*p_ != close) return false;
        ++p_;
        break;
      }
    }
    --depth_;
    return true;
  }

  bool object(Slot slot) {
    struct Name {  // left uninitialized: only names[0, n) are read
      const char* data;
      std::size_t size;
    };
    Name names[kMaxScanMembers];
    std::size_t n = 0;
    const bool ok = elements('}', [&] {
      ws();
      std::string_view name;
      if (!member_name(name)) return false;
      for (std::size_t i = 0; i < n; ++i)
        if (std::string_view(names[i].data, names[i].size) == name) return false;  // named twice: refused
      if (n == kMaxScanMembers) return false;
      names[n++] = Name{name.data(), name.size()};
      ws();
      if (p_ >= end_ || *p_ != ':') return false;
      ++p_;
      if (!value(child(slot, name))) return false;
      if (slot == Slot::root && name == "signature") facts_.has_signature = true;
      return true;
    });
    if (ok && slot == Slot::root) facts_.members = n;
    return ok;
  }

  bool array(Slot element) {
    return elements(']', [&] { return value(element); });
  }

  bool literal(std::string_view word) noexcept {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(reinterpret_cast<const char*>(p_), word.size()) != word)
      return false;
    p_ += word.size();
    return true;
  }

  // One well-formed UTF-8 sequence of two to four bytes (RFC 3629: no overlong forms, no
  // surrogates, nothing above U+10FFFF), as nlohmann's lexer checks it.
  bool utf8() noexcept {
    const unsigned c = *p_;
    const auto cont = [&](std::ptrdiff_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
      return p_ + i < end_ && p_[i] >= lo && p_[i] <= hi;
    };
    if (c >= 0xC2 && c <= 0xDF) {
      if (!cont(1)) return false;
      p_ += 2;
    } else if (c == 0xE0) {
      if (!cont(1, 0xA0) || !cont(2)) return false;
      p_ += 3;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      if (!cont(1) || !cont(2)) return false;
      p_ += 3;
    } else if (c == 0xED) {
      if (!cont(1, 0x80, 0x9F) || !cont(2)) return false;
      p_ += 3;
    } else if (c == 0xF0) {
      if (!cont(1, 0x90) || !cont(2) || !cont(3)) return false;
      p_ += 4;
    } else if (c >= 0xF1 && c <= 0xF3) {
      if (!cont(1) || !cont(2) || !cont(3)) return false;
      p_ += 4;
    } else if (c == 0xF4) {
      if (!cont(1, 0x80, 0x8F) || !cont(2) || !cont(3)) return false;
      p_ += 4;
    } else {
      return false;
    }
    return true;
  }

  int hex4() noexcept {
    if (end_ - p_ < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; ++i) {
      const unsigned c = *p_++;
      int d;
      if (c >= '0' && c <= '9') d = static_cast<int>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<int>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<int>(c - 'A' + 10);
      else return -1;
      v = v * 16 + d;
    }
    return v;
  }

  // p_ after the backslash. Appends the character to `out` when it is given.
  bool escape(std::string* out) {
    if (p_ >= end_) return false;
    const unsigned c = *p_++;
    char plain = 0;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        plain = static_cast<char>(c);
        break;
      case 'b':
        plain = '\b';
        break;
      case 'f':
        plain = '\f';
        break;
      case 'n':
        plain = '\n';
        break;
      case 'r':
        plain = '\r';
        break;
      case 't':
        plain = '\t';
        break;
      case 'u': {
        const int hi = hex4();
        if (hi < 0) return false;
        std::uint32_t cp = static_cast<std::uint32_t>(hi);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
          p_ += 2;
          const int lo = hex4();
          if (lo < 0xDC00 || lo > 0xDFFF) return false;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<std::uint32_t>(lo) - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return false;
        }
        if (out) append_utf8(*out, cp);
        return true;
      }
      default:
        return false;
    }
    if (out) *out += plain;
    return true;
  }

  // p_ at the opening quote. The string's value goes to `out` when it is given.
  bool string(std::string* out) {
    ++p_;
    const unsigned char* run = p_;
    auto flush = [&] {
      if (out) out->append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p_ - run));
    };
    for (;;) {
      while (p_ < end_ && kPlain[*p_]) ++p_;
      if (p_ >= end_) return false;
      const unsigned c = *p_;
      if (c == '"') {
        flush();
        ++p_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        flush();
        ++p_;
        if (!escape(out)) return false;
        run = p_;
      } else if (c < 0x80) {
        ++p_;
      } else if (!utf8()) {
        return false;
      }
    }
  }

  // A member name without escapes (with one, the reference compares the unescaped names: not sure).
  bool member_name(std::string_view& name) noexcept {
    if (p_ >= end_ || *p_ != '"') return false;
    const unsigned char* start = ++p_;
    for (;;) {
      while (p_ < end_ && kPlain[*p_]) ++p_;
      if (p_ >= end_) return false;
      const unsigned c = *p_;
      if (c == '"') break;
      if (c < 0x20 || c == '\\') return false;
      if (c < 0x80) ++p_;
      else if (!utf8()) return false;
    }
    name = std::string_view(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start));
    ++p_;
    return true;
  }

  bool string_value(Slot slot) {
    const report::SchemaField* field = field_of(slot);
    if (field && field->type == report::FieldType::text && !field->reason_classes) return string(&(f_.*field->text));
    if (slot == Slot::reason_class && reasons_) {
      scratch_.clear();
      if (!string(&scratch_)) return false;
      if (!reasons_->empty()) *reasons_ += ',';
      *reasons_ += scratch_;
      return true;
    }
    if (field && field->type == report::FieldType::address) {
      scratch_.clear();
      if (!string(&scratch_)) return false;
      core::IpAddress a;
      if (scratch_.size() <= core::IpAddress::kMaxText)
        if (auto parsed = core::IpAddress::parse(scratch_)) a = parsed->unmapped();
      f_.*field->address = a;
      return true;
    }
    return string(nullptr);
  }

  static bool digit(unsigned c) noexcept { return c >= '0' && c <= '9'; }

  // RFC 8259 numbers. nlohmann reads one without a fraction or exponent as an unsigned (no sign)
  // or signed 64-bit integer when it fits, else as a double, and refuses one that is not finite.
  bool number(Slot slot) {
    const unsigned char* start = p_;
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    if (p_ >= end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && digit(*p_)) ++p_;
    } else {
      return false;
    }
    bool is_float = false;
    if (p_ < end_ && *p_ == '.') {
      is_float = true;
      ++p_;
      if (p_ >= end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      is_float = true;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    const char* first = reinterpret_cast<const char*>(start);
    const char* last = reinterpret_cast<const char*>(p_);
    enum class Kind { unsigned_int, signed_int, floating } kind = Kind::floating;
    std::uint64_t u = 0;
    std::int64_t i = 0;
    if (!is_float) {
      const auto r = negative ? std::from_chars(first, last, i) : std::from_chars(first, last, u);
      if (r.ec == std::errc{} && r.ptr == last) kind = negative ? Kind::signed_int : Kind::unsigned_int;
      else if (r.ec != std::errc::result_out_of_range) return false;
    }
    double d = 0;
    if (kind == Kind::floating) {
      const auto r = std::from_chars(first, last, d);
      if (r.ec != std::errc{} || r.ptr != last || !std::isfinite(d)) return false;  // over/underflow: not sure
    }
    const report::SchemaField* field = field_of(slot);
    if (field && field->type == report::FieldType::number) {
      double& v = f_.*field->number;
      v = kind == Kind::unsigned_int ? static_cast<double>(u) : kind == Kind::signed_int ? static_cast<double>(i) : d;
      f_.*field->present = std::isfinite(v);
    } else if (field && field->type == report::FieldType::integer) {
      std::int64_t& v = f_.*field->integer;
      if (kind == Kind::unsigned_int) v = u > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(u);
      else if (kind == Kind::signed_int) v = i;
      if ((kind == Kind::unsigned_int && u > static_cast<std::uint64_t>(INT64_MAX)) ||
          (kind == Kind::floating && !integer_float_fits(d)))
        facts_.integer_out_of_range = true;
    }
    return true;
  }

  const unsigned char* p_;
  const unsigned char* end_;
  ReportFields& f_;
  ScanFacts& facts_;
  int depth_ = 0;
  std::string scratch_;
  std::string* reasons_ = nullptr;  // the field metadata.reasons' classes go to, once seen
};

constexpr std::array<std::int8_t, 256> kBase64Values = [] {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}();

}  // namespace

bool scan_report(std::string_view message, ReportFields& fields, ScanFacts& facts) {
  facts = {};
  if (message.size() > report::kMaxReportBytes) return false;
  return Scanner(message, fields, facts).run();
}

bool decode_base64_strict(std::string_view text, std::string& out) {
  if (text.size() % 4 != 0) return false;
  if (text.empty()) return true;
  std::size_t pad = 0;
  if (text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  const std::size_t chars = text.size() - pad;
  const std::size_t at = out.size();
  out.resize(at + text.size() / 4 * 3 - pad);
  auto* o = reinterpret_cast<unsigned char*>(out.data() + at);
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  const auto value = [](unsigned char c) { return kBase64Values[c]; };
  std::size_t i = 0;
  for (; i + 4 <= chars; i += 4) {
    const int a = value(in[i]), b = value(in[i + 1]), c = value(in[i + 2]), d = value(in[i + 3]);
    if ((a | b | c | d) < 0) return false;
    const auto v = (static_cast<std::uint32_t>(a) << 18) | (static_cast<std::uint32_t>(b) << 12) |
                   (static_cast<std::uint32_t>(c) << 6) | static_cast<std::uint32_t>(d);
    *o++ = static_cast<unsigned char>(v >> 16);
    *o++ = static_cast<unsigned char>(v >> 8);
    *o++ = static_cast<unsigned char>(v);
  }
  if (pad == 2) {  // two characters, 12 bits: one byte and four bits that must be zero
    const int a = value(in[i]), b = value(in[i + 1]);
    if ((a | b) < 0 || (b & 0x0F) != 0) return false;
    *o++ = static_cast<unsigned char>((a << 2) | (b >> 4));
  } else if (pad == 1) {  // three characters, 18 bits: two bytes and two bits that must be zero
    const int a = value(in[i]), b = value(in[i + 1]), c = value(in[i + 2]);
    if ((a | b | c) < 0 || (c & 0x03) != 0) return false;
    *o++ = static_cast<unsigned char>((a << 2) | (b >> 4));
    *o++ = static_cast<unsigned char>(((b & 0x0F) << 4) | (c >> 2));
  }
  return true;
}

}  // namespace overflowd::receive
