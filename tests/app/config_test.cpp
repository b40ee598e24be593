#include "app/config.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace {

namespace fs = std::filesystem;
using overflowd::app::load_toml;
using overflowd::app::available_cores;
using overflowd::app::parse_port;
using overflowd::app::parse_receive_buffer;
using overflowd::app::parse_workers;
using overflowd::app::parse_rate;
using overflowd::app::RunConfig;
using overflowd::app::validate;

bool contains(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

// ---- --rate ----

TEST(ParseRate, AcceptsProbabilityScales) {
  EXPECT_EQ(parse_rate("1e-5"), 1e-5);
  EXPECT_EQ(parse_rate("0.00001"), 1e-5);
  EXPECT_EQ(parse_rate("1"), 1.0);
  EXPECT_EQ(parse_rate("0"), 0.0);
  EXPECT_EQ(parse_rate("0.05"), 0.05);
  EXPECT_EQ(parse_rate("1.0"), 1.0);
}

TEST(ParseRate, RefusesWhatIsNotANumber) {
  for (std::string_view bad : {"abc", "nan", "NaN", "", "inf", "-inf", "1e-5x", " 1", "1 ", "0,5", "1e", "--1"}) {
    const auto r = parse_rate(bad);
    ASSERT_FALSE(r) << "'" << bad << "'";
    EXPECT_TRUE(contains(r.error(), "--rate")) << r.error();
    EXPECT_TRUE(contains(r.error(), "not a number")) << r.error();
    EXPECT_TRUE(contains(r.error(), "'" + std::string(bad) + "'")) << r.error();
  }
}

TEST(ParseRate, RefusesNumbersOutsideZeroToOne) {
  for (std::string_view bad : {"2", "-1", "1.0000001", "-0.00001", "1e3"}) {
    const auto r = parse_rate(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(contains(r.error(), "outside [0, 1]")) << r.error();
    EXPECT_TRUE(contains(r.error(), std::string(bad))) << r.error();
  }
}

// ---- ports ----

TEST(ParsePort, AcceptsZeroTo65535) {
  EXPECT_EQ(parse_port("-u", "0"), 0);
  EXPECT_EQ(parse_port("-u", "2055"), 2055);
  EXPECT_EQ(parse_port("-u", "65535"), 65535);
}

TEST(ParsePort, RefusesEverythingElseNamingTheOption) {
  for (std::string_view bad : {"65536", "-1", "", "80a", " 80", "80 ", "99999999999", "0x50", "+80", "8.0"}) {
    const auto r = parse_port("--udpport", bad);
    ASSERT_FALSE(r) << "'" << bad << "'";
    EXPECT_TRUE(contains(r.error(), "--udpport")) << r.error();
    EXPECT_TRUE(contains(r.error(), "not a port number")) << r.error();
  }
}

// ---- TOML ----

class Toml : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "overflowd-config-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& text) {
    const std::string p = (dir_ / "overflowd.toml").string();
    std::ofstream(p) << text;
    return p;
  }
  // Loads `text` into a default RunConfig; returns the error message or "" on success.
  std::string load(const std::string& text) {
    config_ = RunConfig{};
    const auto r = load_toml(write(text), config_);
    return r ? "" : r.error();
  }

  fs::path dir_;
  RunConfig config_;
};

// ---- --workers, --receive-buffer ----

TEST(ParseWorkers, AcceptsOneTo256) {
  EXPECT_EQ(parse_workers("--workers", "1"), 1u);
  EXPECT_EQ(parse_workers("--workers", "4"), 4u);
  EXPECT_EQ(parse_workers("--workers", "256"), 256u);
  for (std::string_view bad : {"0", "257", "-1", "", "two", "2x", " 2"}) {
    const auto r = parse_workers("--workers", bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(contains(r.error(), "--workers")) << r.error();
    EXPECT_TRUE(contains(r.error(), "'" + std::string(bad) + "'")) << r.error();
  }
}

TEST(ParseWorkers, TheDefaultIsTheCpusThisProcessMayUse) { EXPECT_GE(available_cores(), 1u); }

TEST(ParseReceiveBuffer, TakesBytesOrBinarySuffixes) {
  EXPECT_EQ(parse_receive_buffer("--receive-buffer", "65536"), 65536);
  EXPECT_EQ(parse_receive_buffer("--receive-buffer", "64K"), 65536);
  EXPECT_EQ(parse_receive_buffer("--receive-buffer", "32M"), 32 << 20);
  EXPECT_EQ(parse_receive_buffer("--receive-buffer", "32m"), 32 << 20);
  EXPECT_EQ(parse_receive_buffer("--receive-buffer", "1G"), 1 << 30);
  for (std::string_view bad : {"65535", "63K", "2G", "1025M", "", "M", "12Q", "-1M", "99999999999999999999"}) {
    const auto r = parse_receive_buffer("--receive-buffer", bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(contains(r.error(), "--receive-buffer")) << r.error();
  }
}

TEST_F(Toml, SourceWorkersAndReceiveBuffer) {
  ASSERT_EQ(load("[source]\nworkers = 3\nreceive_buffer = \"8M\"\n"), "");
  EXPECT_EQ(config_.workers, 3u);
  EXPECT_EQ(config_.udp.receive_buffer, 8 << 20);
  ASSERT_EQ(load("[source]\nreceive_buffer = 1048576\n"), "");
  EXPECT_EQ(config_.udp.receive_buffer, 1 << 20);
  EXPECT_EQ(config_.workers, 0u) << "0: one per core";
  EXPECT_TRUE(contains(load("[source]\nworkers = 0\n"), "source.workers"));
  EXPECT_TRUE(contains(load("[source]\nworkers = \"2\"\n"), "source.workers"));
  EXPECT_TRUE(contains(load("[source]\nreceive_buffer = \"1K\"\n"), "source.receive_buffer"));
  EXPECT_TRUE(contains(load("[source]\nreceive_buffer = true\n"), "source.receive_buffer"));
}

TEST_F(Toml, TemplateCaps) {
  ASSERT_EQ(load("[templates]\nmax_domains = 100\nmax_templates = 2000\nmax_templates_per_domain = 50\n"
                 "max_fields_per_template = 64\nmax_record_length = 9000\nmax_samplers_per_domain = 8\n"),
            "");
  EXPECT_EQ(config_.templates.max_domains, 100u);
  EXPECT_EQ(config_.templates.max_templates, 2000u);
  EXPECT_EQ(config_.templates.max_templates_per_domain, 50u);
  EXPECT_EQ(config_.templates.max_fields_per_template, 64u);
  EXPECT_EQ(config_.templates.max_record_length, 9000u);
  EXPECT_EQ(config_.templates.max_samplers_per_domain, 8u);
  ASSERT_EQ(load("[templates]\n"), "");
  EXPECT_EQ(config_.templates.max_domains, overflowd::decode::TemplateCacheLimits{}.max_domains) << "absent: the default";
  for (const char* bad : {"max_domains = 0", "max_domains = 1000001", "max_templates = -1", "max_fields_per_template = 16384",
                          "max_record_length = 65536", "max_templates_per_domain = 65281", "max_samplers_per_domain = 1.5",
                          "max_domains = \"10\""}) {
    const std::string error = load(std::string("[templates]\n") + bad + "\n");
    EXPECT_TRUE(contains(error, "templates.")) << bad << ": " << error;
  }
  EXPECT_TRUE(contains(load("[templates]\nmax_exporters = 5\n"), "unknown key templates.max_exporters"));
}

TEST_F(Toml, TemplateCapsPerExporter) {
  const overflowd::decode::TemplateCacheLimits defaults;
  EXPECT_EQ(defaults.max_domains_per_exporter, 256u);
  EXPECT_EQ(defaults.max_templates_per_exporter, 4096u);
  ASSERT_EQ(load("[templates]\nmax_domains_per_exporter = 16\nmax_templates_per_exporter = 300\n"), "");
  EXPECT_EQ(config_.templates.max_domains_per_exporter, 16u);
  EXPECT_EQ(config_.templates.max_templates_per_exporter, 300u);
  EXPECT_EQ(config_.templates.shared_among(4).max_domains_per_exporter, 16u) << "one exporter stays with one worker";
  for (const char* bad : {"max_domains_per_exporter = 0", "max_templates_per_exporter = -3",
                          "max_domains_per_exporter = \"8\""})
    EXPECT_TRUE(contains(load(std::string("[templates]\n") + bad + "\n"), "templates.")) << bad;
}

TEST_F(Toml, TemplateTimeout) {
  ASSERT_EQ(load("[templates]\n"), "");
  EXPECT_EQ(config_.templates.template_timeout_s, 0u) << "absent: templates never expire";
  ASSERT_EQ(load("[templates]\ntemplate_timeout = 1800\n"), "");
  EXPECT_EQ(config_.templates.template_timeout_s, 1800u);
  EXPECT_EQ(config_.templates.shared_among(4).template_timeout_s, 1800u) << "every worker's cache has it";
  ASSERT_EQ(load("[templates]\ntemplate_timeout = 0\n"), "");
  for (const char* bad : {"template_timeout = -1", "template_timeout = 31536001", "template_timeout = 1.5",
                          "template_timeout = \"30m\""})
    EXPECT_TRUE(contains(load(std::string("[templates]\n") + bad + "\n"), "templates.template_timeout")) << bad;
}

TEST_F(Toml, CoherentSharingTakesAShareAndAKey) {
  ASSERT_EQ(load("[sampler]\ncoherent_share = 0.5\ncoherent_key = \"000102030405060708090a0b0c0d0e0f\"\n"), "");
  EXPECT_EQ(config_.sampler.coherent_share, 0.5);
  EXPECT_EQ(config_.sampler.coherent_key[15], 0x0f);
  ASSERT_EQ(load("[sampler]\ncoherent_share = 1\n"), "");  // a TOML integer is a number too
  EXPECT_EQ(config_.sampler.coherent_share, 1.0);
  for (const char* bad : {"coherent_share = 1.5", "coherent_share = -0.1", "coherent_share = \"half\""})
    EXPECT_TRUE(contains(load(std::string("[sampler]\n") + bad + "\n"), "sampler.coherent_share")) << bad;
  for (const char* bad : {"coherent_key = \"00\"", "coherent_key = 7", "coherent_key = \"zz0102030405060708090a0b0c0d0e0f\""})
    EXPECT_TRUE(contains(load(std::string("[sampler]\n") + bad + "\n"), "sampler.coherent_key")) << bad;
}

TEST_F(Toml, GoodFileFillsEveryField) {
  ASSERT_EQ(load(R"(
# the README's example
[source]
file = "capture.pcap"
udp_port = 2055
bind = "127.0.0.1"
[sampler]
rate = 0.001
[report]
key = "/var/lib/overflowd/key"
[contact]
email = "noc@example.net"
identity = "Example Net"
[output]
file = "/var/log/overflowd/reports.jsonl"
)"),
            "");
  EXPECT_EQ(config_.pcap_file, "capture.pcap");
  EXPECT_EQ(config_.udp.port, 2055);
  EXPECT_EQ(config_.udp.bind, "127.0.0.1");
  EXPECT_EQ(config_.sampler.rate, 0.001);
  EXPECT_EQ(config_.key_path, "/var/lib/overflowd/key");
  EXPECT_EQ(config_.contact.email, "noc@example.net");
  EXPECT_EQ(config_.contact.identity, "Example Net");
  EXPECT_EQ(config_.output_file, "/var/log/overflowd/reports.jsonl");
}

TEST_F(Toml, AbsentKeysKeepTheirDefaults) {
  ASSERT_EQ(load("[sampler]\nrate = 1e-4\n"), "");
  EXPECT_EQ(config_.sampler.rate, 1e-4);
  EXPECT_EQ(config_.udp.port, 7777);
  EXPECT_EQ(config_.udp.bind, "::");
  EXPECT_TRUE(config_.pcap_file.empty());
  EXPECT_TRUE(config_.contact.empty());
  ASSERT_EQ(load(""), "");
  EXPECT_EQ(config_.sampler.rate, 1e-5);
}

TEST_F(Toml, IntegerRateIsANumber) {
  ASSERT_EQ(load("[sampler]\nrate = 1\n"), "");
  EXPECT_EQ(config_.sampler.rate, 1.0);
  ASSERT_EQ(load("[sampler]\nrate = 0\n"), "");
  EXPECT_EQ(config_.sampler.rate, 0.0);
}

TEST_F(Toml, UnknownKeyIsNamed) {
  const std::string e = load("[sampler]\nrat = 0.1\n");
  EXPECT_TRUE(contains(e, "unknown key sampler.rat")) << e;
  EXPECT_TRUE(contains(load("[contact]\nemail = \"a@b\"\nphone = \"123\"\n"), "unknown key contact.phone"));
  EXPECT_TRUE(contains(load("[source]\nfile = \"x\"\n[source.extra]\nk = 1\n"), "unknown key source.extra"));
}

TEST_F(Toml, UnknownSectionIsNamed) {
  const std::string e = load("[sampling]\nrate = 0.1\n");
  EXPECT_TRUE(contains(e, "unknown section [sampling]")) << e;
  EXPECT_FALSE(load("rate = 0.1\n").empty());  // a top-level key is no section of ours either
}

TEST_F(Toml, WrongTypesAreRefused) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"[source]\nfile = 5\n", "source.file must be a string"},
      {"[source]\nbind = true\n", "source.bind must be a string"},
      {"[source]\nudp_port = \"7777\"\n", "source.udp_port must be a port number"},
      {"[source]\nudp_port = 70000\n", "source.udp_port must be a port number"},
      {"[source]\nudp_port = -1\n", "source.udp_port must be a port number"},
      {"[source]\nudp_port = 80.5\n", "source.udp_port must be a port number"},
      // A float is not a port, however whole; one past int64 once reached a cast without a check.
      {"[source]\nudp_port = 2055.0\n", "source.udp_port must be a port number"},
      {"[source]\nudp_port = 2.2e38\n", "source.udp_port must be a port number"},
      {"[source]\nworkers = 2.0\n", "source.workers must be a whole number"},
      {"[sampler]\nrate = \"0.1\"\n", "sampler.rate must be a number"},
      {"[sampler]\nrate = true\n", "sampler.rate must be a number"},
      {"[report]\nkey = 1\n", "report.key must be a string"},
      {"[contact]\nemail = [\"a@b\"]\n", "contact.email must be a string"},
      {"[contact]\nidentity = { name = \"x\" }\n", "contact.identity must be a string"},
      {"[output]\nfile = 1979-05-27\n", "output.file must be a string"},
      {"source = 5\n", "source must be a table"},
  };
  for (const auto& c : cases) {
    const std::string e = load(c.text);
    EXPECT_TRUE(contains(e, c.message)) << c.text << " -> '" << e << "'";
  }
}

TEST_F(Toml, SyntaxErrorNamesTheFileAndLine) {
  const std::string text = "[sampler]\n# a comment\nrate = = 0.1\n";
  const std::string p = write(text);
  RunConfig c;
  const auto r = load_toml(p, c);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error(), p + ":3:")) << r.error();

  const auto unterminated = load("[contact]\nemail = \"noc@example.net\nidentity = \"x\"\n");
  EXPECT_TRUE(contains(unterminated, ":2:")) << unterminated;
  const auto bad_header = load("[source]\nfile = \"x\"\n\n\n[sampler\n");
  EXPECT_TRUE(contains(bad_header, ":5:")) << bad_header;
}

TEST_F(Toml, MissingFileIsAnError) {
  RunConfig c;
  const auto r = load_toml((dir_ / "absent.toml").string(), c);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error(), "absent.toml")) << r.error();
}

// ---- validate ----

TEST(Validate, DefaultsAreValid) { EXPECT_TRUE(validate(RunConfig{})); }

TEST(Validate, BadUtf8ContactIsRefused) {
  RunConfig c;
  c.contact.email = "noc@example.net";
  c.contact.identity = "Caf\xc3";  // truncated sequence
  auto r = validate(c);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error(), "UTF-8")) << r.error();
  c.contact.identity = "Caf\xc3\xa9";
  EXPECT_TRUE(validate(c));
  c.contact.email = "\xed\xa0\x80@example.net";  // a surrogate
  EXPECT_FALSE(validate(c));
  c.contact.email = "\xc0\xaf";  // an overlong '/'
  EXPECT_FALSE(validate(c));
}

TEST(Validate, OverlongContactIsRefused) {
  RunConfig c;
  c.contact.identity = std::string(256, 'x');
  EXPECT_TRUE(validate(c));
  c.contact.identity = std::string(257, 'x');
  EXPECT_FALSE(validate(c));
}

TEST(Validate, RateOutsideZeroToOneIsRefused) {
  RunConfig c;
  for (double bad : {2.0, -0.1, std::nan(""), std::numeric_limits<double>::infinity()}) {
    c.sampler.rate = bad;
    EXPECT_FALSE(validate(c)) << bad;
  }
  c.sampler.rate = 1.0;
  EXPECT_TRUE(validate(c));
}

TEST(Validate, BindMustBeAnAddressForLiveInput) {
  RunConfig c;
  c.udp.bind = "localhost";
  const auto r = validate(c);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error(), "--bind")) << r.error();
  c.udp.bind = "127.0.0.1";
  EXPECT_TRUE(validate(c));
  c.udp.bind = "::1";
  EXPECT_TRUE(validate(c));
  c.udp.bind = "localhost";
  c.pcap_file = "x.pcap";  // not used when reading a file
  EXPECT_TRUE(validate(c));
}

}  // namespace
