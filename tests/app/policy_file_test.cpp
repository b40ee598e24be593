// The policy file (TOML) and its list files: what loads, what is refused and how the error reads
// (file and line for a list; nothing half-loaded), the shipped example, and the reload function a
// SIGHUP handler calls: a good file replaces the policy, a bad one keeps the old and says why.
#include "app/policy_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace overflowd::app {
namespace {

namespace fs = std::filesystem;

core::IpAddress ip(std::string_view s) { return *core::IpAddress::parse(s); }

ListReader files(std::map<std::string, std::string> m) {
  return [m = std::move(m)](const std::string& path) -> std::expected<std::string, std::string> {
    if (const auto it = m.find(path); it != m.end()) return it->second;
    return std::unexpected(path + ": no such file");
  };
}

const char* kPolicy = R"(
[policy]
combine = "first"
max_multiplier = 30

[lists.drop]
file = "drop.txt"
format = "spamhaus"
refresh = 3600

[lists.mine]
prefixes = ["198.51.100.0/24"]

[urpf]
own_prefixes = ["198.51.100.0/24"]
[[urpf.interface]]
exporter = "192.0.2.1"
index = 10
role = "customer"
allowed = ["203.0.113.0/25"]

[volume]
window = 5
width = 1024

[[rule]]
name = "drop"
class = "listed-source"
src_list = ["drop"]
multiplier = 20

[[rule]]
name = "urpf"
class = "spoofed-source"
spoofed = true
probability = 0.5

[[rule]]
name = "amp"
class = "reflection-trigger"
protocol = ["udp"]
dst_port = ["amplification", "20000-20010", 7]
tcp_flags_unset = []
bytes_per_packet = [0, 100]
exporter = "192.0.2.1"
input = [10, 11]
multiplier = 3

[[rule]]
name = "flood"
class = "volumetric"
dst_pps = 1e5
dst_sources = 1000
multiplier = 10
)";

TEST(PolicyFile, ParsesEverySection) {
  auto spec = parse_policy_text(kPolicy, "/etc/overflowd/policy.toml",
                                files({{"/etc/overflowd/drop.txt", "; header\n1.10.16.0/20 ; SBL1\n"}}));
  ASSERT_TRUE(spec) << spec.error();
  EXPECT_EQ(spec->combine, policy::Combine::first);
  EXPECT_EQ(spec->max_multiplier, 30);
  ASSERT_EQ(spec->lists.size(), 2u);
  EXPECT_EQ(spec->lists[0].file, "/etc/overflowd/drop.txt");
  EXPECT_EQ(spec->lists[0].prefixes.size(), 1u);
  EXPECT_EQ(spec->lists[0].refresh_s, 3600);
  ASSERT_EQ(spec->interfaces.size(), 1u);
  EXPECT_EQ(spec->interfaces[0].role, policy::InterfaceRole::customer);
  EXPECT_EQ(spec->volume.window_s, 5);
  ASSERT_EQ(spec->rules.size(), 4u);
  const auto& amp = spec->rules[2];
  EXPECT_EQ(amp.protocol, std::vector<std::uint8_t>{17});
  EXPECT_GT(amp.dst_port.size(), 12u);
  EXPECT_EQ(amp.bytes_per_packet_max, 100);
  EXPECT_EQ(amp.exporter, std::vector<core::IpAddress>{ip("192.0.2.1")});
  EXPECT_EQ(spec->rules[1].probability, 0.5);
  EXPECT_EQ(spec->rules[3].dst_pps, 1e5);
  auto built = policy::Policy::build(std::move(*spec));
  ASSERT_TRUE(built) << built.error();
  EXPECT_NE((*built)->describe().find("drop: 1 prefixes"), std::string::npos) << (*built)->describe();
}

TEST(PolicyFile, ErrorsNameTheFileAndWhat) {
  auto expect_error = [](std::string_view text, std::string_view needle, ListReader read = files({})) {
    auto spec = parse_policy_text(text, "p.toml", read);
    ASSERT_FALSE(spec) << text;
    EXPECT_NE(spec.error().find(needle), std::string::npos) << spec.error();
  };
  expect_error("[policy]\ncombine = \"min\"\n", "p.toml: policy.combine");
  expect_error("[polcy]\n", "polcy");
  expect_error("[[rule]]\nclass = \"volumetric\"\n", "rule 1.name");
  expect_error("[[rule]]\nname = \"x\"\nclass = \"evil\"\nprotocol = 6\nmultiplier = 2\n", "'evil'");
  expect_error("[[rule]]\nname = \"x\"\nclass = \"volumetric\"\ndst_port = \"70000\"\nmultiplier = 2\n", "rule 'x'.dst_port");
  expect_error("[[rule]]\nname = \"x\"\nclass = \"volumetric\"\ntcp_flags_set = \"SYNACK\"\nmultiplier = 2\n", "not a TCP flag");
  expect_error("[[rule]]\nname = \"x\"\nclass = \"volumetric\"\nsrc_cidr = \"10.0.0.1/8\"\nmultiplier = 2\n", "src_cidr");
  expect_error("[[rule]]\nname = \"x\"\nclass = \"volumetric\"\ncolour = 1\n", "colour");
  expect_error("[lists.a]\nfile = \"a.txt\"\n", "a.txt: no such file");
  // A malformed line in a list: the list file and its line, and no policy at all.
  expect_error("[lists.a]\nfile = \"/l/a.txt\"\n", "/l/a.txt:2: ", files({{"/l/a.txt", "10.0.0.0/8\nbogus\n"}}));
  expect_error("[urpf]\n[[urpf.interface]]\nexporter = \"x\"\nindex = 1\nrole = \"customer\"\n", "urpf.interface 1.exporter");
  expect_error("x = [", "p.toml:1:");
}

TEST(PolicyFile, TheShippedExampleLoadsAndBoosts) {
  auto spec = parse_policy_text(example_policy(), "policy.toml", files({}));
  ASSERT_TRUE(spec) << spec.error();
  auto built = policy::Policy::build(std::move(*spec));
  ASSERT_TRUE(built) << built.error();
  const auto& p = **built;
  policy::PolicyState state(p);
  policy::Decision d;
  core::FlowRecord f;
  f.fields = core::kNetflowV5Fields;
  f.src = ip("0.1.2.3");  // never on the Internet
  f.dst = ip("8.8.8.8");
  f.protocol = 6;
  f.tcp_flags = 0x18;
  f.pcount = 1;
  f.bcount = 1000;
  p.evaluate(f, state, 0, d);
  ASSERT_TRUE(d.suspicious);
  EXPECT_EQ(d.reasons[0].rule, "never-on-internet-source");
  f.src = ip("240.0.0.9");
  p.evaluate(f, state, 0, d);
  EXPECT_TRUE(d.suspicious);
  f.src = ip("8.8.4.4");
  p.evaluate(f, state, 0, d);
  EXPECT_FALSE(d.suspicious);
  // And dist/config/policy.toml is what `policy example` prints.
  // (OVERFLOWD_SHARED_DATA is <source>/../shared/data: the source tree is its start.)
  std::string source = OVERFLOWD_SHARED_DATA;
  source.resize(source.size() - std::string_view("/../shared/data").size());
  std::ifstream in(source + "/dist/config/policy.toml");
  ASSERT_TRUE(in) << source;
  {
    std::stringstream file;
    file << in.rdbuf();
    EXPECT_EQ(file.str(), example_policy());
  }
}

class PolicyReload : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("overflowd_policy_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

constexpr const char* kGood = R"(
[lists.drop]
file = "drop.txt"
[[rule]]
name = "drop"
class = "listed-source"
src_list = "drop"
multiplier = 10
)";

TEST_F(PolicyReload, AGoodFileReplacesThePolicyABadOneKeepsTheOld) {
  write("policy.toml", kGood);
  write("drop.txt", "198.51.100.0/24\n");
  PolicyHolder holder(path("policy.toml"));
  ASSERT_TRUE(holder.load());
  const auto first = holder.current();
  const auto gen = holder.generation();
  EXPECT_EQ(first->spec().lists[0].prefixes.size(), 1u);

  // A good change: the list grows.
  write("drop.txt", "198.51.100.0/24\n203.0.113.0/24\n");
  ASSERT_TRUE(holder.reload());
  EXPECT_GT(holder.generation(), gen);
  EXPECT_EQ(holder.current()->spec().lists[0].prefixes.size(), 2u);

  // A bad list line: refused with file and line, the last good policy stays.
  const auto good = holder.current();
  const auto good_gen = holder.generation();
  write("drop.txt", "198.51.100.0/24\nnot a prefix\n");
  const auto bad = holder.reload();
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find(path("drop.txt") + ":2:"), std::string::npos) << bad.error();
  EXPECT_NE(bad.error().find("keeping the policy loaded before"), std::string::npos) << bad.error();
  EXPECT_EQ(holder.current(), good);
  EXPECT_EQ(holder.generation(), good_gen);
  EXPECT_EQ(holder.reloads_failed(), 1u);

  // A bad policy file (syntax), and a missing one: the same.
  write("drop.txt", "198.51.100.0/24\n");
  write("policy.toml", "[[rule]\n");
  EXPECT_FALSE(holder.reload());
  fs::remove(dir_ / "policy.toml");
  EXPECT_FALSE(holder.reload());
  EXPECT_EQ(holder.current(), good);
  EXPECT_EQ(holder.reloads_failed(), 3u);
}

TEST_F(PolicyReload, AFirstLoadThatFailsIsAnError) {
  write("policy.toml", "[[rule]]\nname = \"x\"\n");
  PolicyHolder holder(path("policy.toml"));
  EXPECT_FALSE(holder.load());
  EXPECT_EQ(holder.current(), nullptr);
}

TEST_F(PolicyReload, ListsWithARefreshAreReReadWhenDue) {
  write("policy.toml", std::string(kGood).replace(std::string(kGood).find("[[rule]]"), 0, "refresh = 60\n"));
  write("drop.txt", "198.51.100.0/24\n");
  PolicyHolder holder(path("policy.toml"));
  ASSERT_TRUE(holder.load());
  const auto gen = holder.generation();
  auto r = holder.refresh_if_due(0);  // monotonic seconds: far before the next refresh
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  write("drop.txt", "198.51.100.0/24\n192.0.2.0/24\n");
  r = holder.refresh_if_due(1e12);
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
  EXPECT_GT(holder.generation(), gen);
  EXPECT_EQ(holder.current()->spec().lists[0].prefixes.size(), 2u);
}

}  // namespace
}  // namespace overflowd::app
