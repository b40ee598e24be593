// The settings tables (app/settings.hpp): the sender's and the receiver's rows are each written
// once, and the one loader and the one CLI binder read every row the same way.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "app/config.hpp"
#include "app/receive_config.hpp"
#include "app/settings_cli.hpp"

namespace overflowd::app {
namespace {

template <class Config>
void expect_each_setting_once(const std::vector<Setting<Config>>& table) {
  std::set<std::pair<std::string, std::string>> keys;
  std::set<std::string> flags;
  for (const auto& s : table) {
    ASSERT_TRUE(s.set) << (s.key ? s.key : s.flag);
    ASSERT_TRUE(s.flag || (s.section && s.key)) << "a row is a flag, a key, or both";
    if (s.section) {
      EXPECT_TRUE(keys.emplace(s.section, s.key).second) << s.section << "." << s.key;
    }
    if (s.flag) {
      EXPECT_TRUE(std::string(s.help).size() > 0) << s.flag;
      for (std::string_view rest = s.flag; !rest.empty();) {
        const auto comma = rest.find(',');
        EXPECT_TRUE(flags.emplace(rest.substr(0, comma)).second) << s.flag;
        rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
      }
    }
    if (s.kind == SettingKind::list || s.kind == SettingKind::scalars) {
      EXPECT_TRUE(s.clear) << s.key;
    }
  }
}

TEST(Settings, EachFlagAndKeyIsWrittenOnce) {
  expect_each_setting_once(sender_settings());
  expect_each_setting_once(receive_settings());
  EXPECT_EQ(setting_sections(receive_settings()), (std::vector<std::string_view>{"receive", "log"}));
  const auto sender = setting_sections(sender_settings());
  EXPECT_EQ(std::vector<std::string_view>(sender.begin(), sender.end()),
            (std::vector<std::string_view>{"source", "sampler", "report", "templates", "contact", "output", "metrics", "source.kafka", "delivery", "log"}));
}

TEST(Settings, TheLogRowsAreOneTableInBothCommands) {
  // [log] format/level: the same rows (log_settings) in the sender's and the receiver's tables.
  for (const auto& row : log_settings()) {
    const auto* in_sender = find_setting(sender_settings(), "log", row.key);
    const auto* in_receiver = find_setting(receive_settings(), "log", row.key);
    ASSERT_TRUE(in_sender && in_receiver) << row.key;
    EXPECT_STREQ(in_sender->flag, row.flag);
    EXPECT_STREQ(in_receiver->help, row.help);
  }
  RunConfig sender;
  ASSERT_TRUE(load_toml_text("[log]\nformat = \"json\"\nlevel = \"warn\"\n", "t.toml", sender));
  EXPECT_EQ(sender.log.format, log::Format::json);
  EXPECT_EQ(sender.log.level, log::Level::warn);
  ReceiveConfig receiver;
  ASSERT_TRUE(load_receive_toml_text("[log]\nlevel = \"error\"\n[receive]\nudp_port = 1\n", "r.toml", receiver));
  EXPECT_EQ(receiver.log.level, log::Level::error);
  const auto bad = load_toml_text("[log]\nformat = \"xml\"\n", "t.toml", sender);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("log.format: 'xml' is not text or json"), std::string::npos) << bad.error();
}

TEST(Settings, TheHelpFootListsEveryKeyOfTheTable) {
  const std::string help = toml_keys_help();
  for (const auto& s : sender_settings())
    if (s.section) {
      EXPECT_NE(help.find(std::string(" ") + s.key), std::string::npos) << s.key;
    }
}

TEST(Settings, AFlagAndItsKeySetTheSameThing) {
  // --workers 3 and [source] workers = 3; --allow-destination twice and an array of two.
  CLI::App app;
  SettingFlags<RunConfig> flags(app, sender_settings(), SettingFlags<RunConfig>::KeyShown::section_and_key);
  app.parse("--workers 3 --allow-destination 127.0.0.0/8 --allow-destination ::1", false);
  RunConfig by_flag;
  ASSERT_TRUE(flags.apply(by_flag));
  RunConfig by_file;
  ASSERT_TRUE(load_toml_text("[source]\nworkers = 3\n[delivery]\nallow = [\"127.0.0.0/8\", \"::1\"]\n", "t.toml", by_file));
  EXPECT_EQ(by_flag.workers, 3u);
  EXPECT_EQ(by_file.workers, 3u);
  ASSERT_EQ(by_flag.delivery.guard.allow.size(), 2u);
  EXPECT_EQ(by_flag.delivery.guard.allow, by_file.delivery.guard.allow);
}

TEST(Settings, FlagsReplaceAListTheFileGave) {
  ReceiveConfig c;
  ASSERT_TRUE(load_receive_toml_text("[receive]\napi_allow = [\"10.0.0.0/8\"]\n", "r.toml", c));
  EXPECT_EQ(c.api_allow, std::vector<std::string>{"10.0.0.0/8"});
  CLI::App app;
  SettingFlags<ReceiveConfig> flags(app, receive_settings(), SettingFlags<ReceiveConfig>::KeyShown::key);
  app.parse("--api-allow 192.0.2.0/24", false);
  ASSERT_TRUE(flags.apply(c));
  EXPECT_EQ(c.api_allow, std::vector<std::string>{"192.0.2.0/24"});
}

TEST(Settings, AFlagsNameUsedAsAKeyIsToldTheKey) {
  RunConfig c;
  const auto r = load_toml_text("[delivery]\nallow_destination = [\"127.0.0.0/8\"]\n", "t.toml", c);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("unknown key delivery.allow_destination (the flag --allow-destination is the key allow)"),
            std::string::npos)
      << r.error();
}

TEST(Settings, EachCommandLeavesTheOthersSectionsAlone) {
  ReceiveConfig rc;
  EXPECT_TRUE(load_receive_toml_text("[templates]\nmax_domains = 5\n[metrics]\nlisten = \"x\"\n", "r.toml", rc));
  RunConfig sc;
  const auto r = load_toml_text("[receive]\nudp_port = 1\n", "s.toml", sc);
  ASSERT_FALSE(r);  // as before: the sender's file holds the sender's sections only
  EXPECT_NE(r.error().find("unknown section [receive]"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace overflowd::app
