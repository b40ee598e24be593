// overflowd: reads the flows a network's routers export, reports a random few (more of the
// heavier ones) to their endpoints, signed, so that victims of floods and spoofing learn who sees
// their traffic and whom to call.
// GCC 12 reports a false -Wnull-dereference inside CLI11's inlined string splitting once enough
// options are declared in one function; it is in the library, not in this file.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>

#include <charconv>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "app/log.hpp"
#include "app/log_settings.hpp"
#include "app/settings_cli.hpp"
#include "app/version.hpp"
#include "guard/special_purpose.hpp"
#include "app/receiver.hpp"
#include "core/sodium.hpp"

using namespace overflowd::app;

int main(int argc, char** argv) {
  // libsodium starts here, once, before any thread: without it nothing can sign or verify.
  try {
    overflowd::core::init_sodium();
  } catch (const std::exception& e) {
    print_error(e.what());
    return kExitFailure;
  }
  CLI::App app{"overflowd: signed reports on a random sample of your flows, sent to their endpoints.\n"
               "Reads NetFlow v5 and v9, IPFIX and sFlow v5 from a capture file (-f) or live UDP (-u, the default: port 7777).\n"
               "Without a subcommand it runs the sender and prints one JSON report per line;\n"
               "--deliver also sends each report to the flow's endpoints (UDP 65535, HTTP, HTTPS), within\n"
               "safety limits that are on by default (budgets, no private or special-purpose addresses, ...)."};
  app.name("overflowd");
  app.require_subcommand(0, 1);
  app.footer(toml_keys_help());
  app.set_version_flag("-V,--version", std::string("overflowd ") + kVersionLong, "Print the version and exit");

  std::string config_file;
  app.add_option("--config", config_file, "TOML file with the settings below (flags override it)")->type_name("FILE");
  // One flag per row of the sender's settings table (app/config.hpp: sender_settings), each
  // followed by its key in the file; the [delivery] rows in their own group.
  const SettingFlags<RunConfig> flags(app, sender_settings(), SettingFlags<RunConfig>::KeyShown::section_and_key);
  flags.option("--file")->excludes(flags.option("--udp-port"));

  auto* keygen = app.add_subcommand("keygen", "Create a signing key file (mode 0600) and print its public key");
  std::string keygen_path;
  bool keygen_x25519 = false;
  keygen->add_option("path", keygen_path, "Where to write the key")->required();
  keygen->add_flag("--x25519", keygen_x25519, "An X25519 encryption key (receive --encryption-key) instead of an Ed25519 signing key");

  auto* pubkey = app.add_subcommand("pubkey", "Print the public key of a key file");
  std::string pubkey_path;
  bool pubkey_x25519 = false;
  pubkey->add_option("path", pubkey_path, "The key file")->required();
  pubkey->add_flag("--x25519", pubkey_x25519, "The file is an X25519 encryption key (prints the public key and its kid)");

  auto* rotate = app.add_subcommand("rotate-key", "Write a rotation statement from an old to a new signing key, signed by both (creates NEW when absent)");
  std::string rotate_old, rotate_new, rotate_out;
  rotate->add_option("--old", rotate_old, "The old signing key file")->required();
  rotate->add_option("--new", rotate_new, "The new signing key file")->required();
  rotate->add_option("-o,--out", rotate_out, "Write the statement here (default: standard output)");

  auto* verify = app.add_subcommand("verify", "Verify report lines (full or compact form); exit 1 if any fails");
  std::string verify_path = "-";
  verify->add_option("file", verify_path, "File of reports, one per line; - or nothing for stdin");

  auto* synth = app.add_subcommand("synth", "Write a synthetic NetFlow v5 capture: background traffic plus a flood");
  SynthConfig synth_config;
  synth->add_option("-o,--out", synth_config.out, "The pcap file to write")->required();
  synth->add_option("--background-flows", synth_config.background_flows, "Flows of ordinary traffic")->capture_default_str();
  synth->add_option("--flood-flows", synth_config.flood_flows, "Flows of the flood (one per spoofed source)")->capture_default_str();
  synth->add_option("--flood-packets", synth_config.flood_packets, "Mean packets per flood flow")->capture_default_str();
  synth->add_option("--sampling-interval", synth_config.sampling_interval, "Declare 1:N packet sampling in the v5 headers")
      ->check(CLI::Range(0, 16383));
  synth->add_option("--seed", synth_config.seed, "Generator seed")->capture_default_str();
  synth->add_flag("--loopback", synth_config.loopback, "Use 127.0.0.0/8 addresses only (for delivery tests)");
  std::vector<std::string> synth_src_hosts, synth_dst_hosts;
  auto* opt_src_hosts = synth->add_option("--src-host", synth_src_hosts, "Draw every flow's source from these IPv4 addresses (repeatable; special-purpose addresses only, e.g. 127.0.0.2)")
      ->type_name("ADDRESS")->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  auto* opt_dst_hosts = synth->add_option("--dst-host", synth_dst_hosts, "Draw every flow's destination from these IPv4 addresses (repeatable; special-purpose only)")
      ->type_name("ADDRESS")->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

  auto* replay = app.add_subcommand("replay", "Send the flow exports of a capture to a collector on loopback (benchmarks, tests)");
  ReplayArgs replay_args;
  replay->add_option("-f,--file", replay_args.file, "The pcap or pcapng capture whose UDP payloads are sent")->type_name("CAPTURE")->required();
  replay->add_option("--to", replay_args.to, "Destination: 127.0.0.1:PORT or [::1]:PORT (loopback only, see --allow-non-loopback)")->type_name("ADDRESS:PORT")->required();
  replay->add_option("--rate", replay_args.rate, "Datagrams per second (default: as fast as possible)")->type_name("PPS");
  replay->add_option("--count", replay_args.count, "Send at most N datagrams")->type_name("N");
  replay->add_option("--duration", replay_args.duration, "Send for at most S seconds")->type_name("S");
  replay->add_flag("--loop", replay_args.loop, "Start the capture again at its end (needs --count or --duration)");
  replay->add_option("--exporters", replay_args.exporters, "Send from N sockets (ports) in turn, batch by batch (default 1; for v5/sFlow, which carry no templates)")->type_name("N");
  replay->add_flag("--allow-non-loopback", replay_args.allow_non_loopback, "Allow a destination that is not loopback");

  auto* policy_cmd = app.add_subcommand("policy", "The suspicion policy: print the example, or check a file");
  policy_cmd->require_subcommand(1);
  auto* policy_example = policy_cmd->add_subcommand("example", "Print the commented example policy");
  auto* policy_check = policy_cmd->add_subcommand("check", "Load a policy and its lists and print what it loaded");
  std::string policy_check_path;
  policy_check->add_option("file", policy_check_path, "The policy file")->required();

  auto* receive = add_receive_command(app);
  auto* simulate = add_simulate_command(app);

  // One logger for every command: --log-format and --log-level (rows of log_settings(), in both
  // the sender's table and the receiver's) are taken before or after the subcommand's name.
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(e.what());
    return kExitUsage;
  }

  {  // The flags alone, for now: the sender and the receiver apply their file's [log] under them.
    LogSettings early;
    for (CLI::App* a : {&app, receive_app(receive)})
      for (const auto& row : log_settings()) {
        const CLI::Option* o = a->get_option_no_throw(row.flag);
        if (!o || o->count() == 0) continue;
        if (auto r = row.set(early, o->results().back(), row.flag); !r) {
          print_error(r.error());
          return kExitUsage;
        }
      }
    log::configure(early.format, early.level);
  }

  if (receive_chosen(receive)) return run_receive_command(receive);
  if (simulate_chosen(simulate)) return run_simulate_command(simulate);
  if (*keygen) return keygen_x25519 ? cmd_keygen_x25519(keygen_path) : cmd_keygen(keygen_path);
  if (*pubkey) return pubkey_x25519 ? cmd_pubkey_x25519(pubkey_path) : cmd_pubkey(pubkey_path);
  if (*rotate) return cmd_rotate_key(rotate_old, rotate_new, rotate_out);
  if (*verify) return cmd_verify(verify_path);
  if (*replay) return cmd_replay(replay_args);
  if (*policy_example) return cmd_policy_example();
  if (*policy_check) return cmd_policy_check(policy_check_path);
  if (*synth) {
    for (auto [opt, texts, into] : {std::tuple{opt_src_hosts, &synth_src_hosts, &synth_config.src_hosts},
                                    std::tuple{opt_dst_hosts, &synth_dst_hosts, &synth_config.dst_hosts}}) {
      for (const auto& text : *texts) {
        const auto a = overflowd::core::IpAddress::parse(text);
        if (!a || !a->is_v4() || !overflowd::guard::is_special_purpose(*a)) {
          print_error(opt->get_name() + ": '" + text +
                      "' is not an IPv4 special-purpose address (synth never uses routable addresses)");
          return kExitUsage;
        }
        into->push_back(a->v4_host_order());
      }
    }
    return cmd_synth(synth_config);
  }

  // The sender's settings: the file, then the flags over it. Run again on SIGHUP (ExecReload) to
  // re-read the file with the same flags.
  const auto build_config = [&]() -> std::expected<RunConfig, std::string> {
    RunConfig config;
    if (!config_file.empty()) {
      if (auto r = load_toml(config_file, config); !r) {
        return std::unexpected(r.error());
      }
    }
    if (auto r = flags.apply(config); !r) return std::unexpected(r.error());
    if (flags.option("--udp-port")->count() > 0) config.pcap_file.clear();  // -u over the file's [source] file
    return config;
  };
  auto config = build_config();
  if (!config) {
    print_error(config.error());
    return kExitUsage;
  }
  log::configure(config->log.format, config->log.level);  // the file's [log] under the flags
  return cmd_run(*config, config_file, config_file.empty() ? ConfigLoader{} : ConfigLoader(build_config));
}
