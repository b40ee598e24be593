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
#include "guard/special_purpose.hpp"
#include "receive/receiver.hpp"

using namespace overflowd::app;

int main(int argc, char** argv) {
  CLI::App app{"overflowd: signed reports on a random sample of your flows, sent to their endpoints.\n"
               "Reads NetFlow v5 from a capture file (-f) or live UDP (-u, the default: port 7777).\n"
               "Without a subcommand it runs the sender and prints one JSON report per line;\n"
               "--deliver also sends each report to the flow's endpoints (UDP 65535, HTTP, HTTPS), within\n"
               "safety limits that are on by default (budgets, no private or special-purpose addresses, ...)."};
  app.name("overflowd");
  app.require_subcommand(0, 1);

  std::string file, udp_port, rate, config_file, key, email, identity, output, bind, seed;
  bool quiet = false;
  auto* opt_file = app.add_option("-f,--file,--pcapfile", file, "Read flow exports from a pcap or pcapng file")->type_name("FILE");
  auto* opt_udp = app.add_option("-u,--udp-port,--udpport", udp_port, "Receive flow exports on this UDP port (default 7777)")->type_name("PORT");
  auto* opt_rate = app.add_option("-r,--rate", rate, "Chance per packet that a flow is reported, in [0, 1] (default 0.00001)")->type_name("RATE");
  app.add_option("--config", config_file, "TOML file with the settings below (flags override it)")->type_name("FILE");
  auto* opt_key = app.add_option("--key", key, "Signing key file; created (mode 0600) when absent. Without it: an ephemeral key")->type_name("PATH");
  auto* opt_email = app.add_option("--email", email, "Contact email put in every report")->type_name("EMAIL");
  auto* opt_identity = app.add_option("--identity", identity, "Contact identity (who you are) put in every report")->type_name("NAME");
  auto* opt_output = app.add_option("--output", output, "Append reports to this file instead of stdout")->type_name("FILE");
  auto* opt_bind = app.add_option("--bind", bind, "Address for -u to listen on (default ::, which takes IPv4 too)")->type_name("ADDRESS");
  auto* opt_seed = app.add_option("--seed", seed, "FOR TESTS ONLY: seed the sampler so runs repeat; reports become predictable")->type_name("N");
  auto* opt_quiet = app.add_flag("-q,--quiet", quiet, "No summary of counters on stderr at the end");
  std::string workers, receive_buffer;
  auto* opt_workers = app.add_option("--workers", workers, "Live UDP: worker threads, each with its own SO_REUSEPORT socket (default: one per core)")->type_name("N");
  auto* opt_receive_buffer = app.add_option("--receive-buffer", receive_buffer, "Live UDP: socket receive buffer asked for, per worker (default 32M)")->type_name("BYTES");
  opt_file->excludes(opt_udp);

  // Delivery to the flows' endpoints: off unless --deliver names a transport. Each option is the
  // [delivery] key of the same name in the config file (see set_delivery_option).
  struct DeliveryFlag {
    const char* flag;
    const char* key;
    const char* type;
    const char* help;
    std::vector<std::string> values;
    CLI::Option* option = nullptr;
  };
  std::vector<DeliveryFlag> delivery_flags = {
      {"--deliver", "deliver", "LIST", "Send reports to the flows' endpoints over udp,http,https (any of them; default: none)", {}},
      {"--deliver-to", "to", "src|dst|both", "Which endpoints get the report (default both)", {}},
      {"--report-port", "report_port", "PORT", "UDP port reports are sent to; flows of this port are never reported (default 65535)", {}},
      {"--source-address", "source_address", "ADDRESS", "Send from this local address (one IPv4 and/or one IPv6; repeatable)", {}},
      {"--own-address", "own_address", "ADDRESS", "Also this host's (flows of it are never reported; its interfaces' addresses are found at start; repeatable)", {}},
      {"--http-port", "http_port", "PORT", "Port of the HTTP POST (default 80)", {}},
      {"--https-port", "https_port", "PORT", "Port of the HTTPS POST (default 443)", {}},
      {"--http-path", "path", "PATH", "URL path of the POST (default /.well-known/overflowd)", {}},
      {"--https-ca", "https_ca", "FILE", "With --https-verify: trust this PEM file instead of the system store", {}},
      {"--http-connect-timeout", "connect_timeout_ms", "MS", "HTTP(S) connect timeout in milliseconds (default 2000)", {}},
      {"--http-timeout", "timeout_ms", "MS", "HTTP(S) total timeout per report in milliseconds (default 5000)", {}},
      {"--http-max-in-flight", "max_in_flight", "N", "Concurrent HTTP(S) transfers at most (default 16)", {}},
      {"--http-queue", "queue", "N", "HTTP(S) reports waiting for a transfer at most; more are dropped and counted (default 1024)", {}},
      {"--budget", "budget", "RATE|off", "Reports per second sent in all, a token bucket (default 100)", {}},
      {"--budget-burst", "budget_burst", "N", "Burst of the global budget (default 100)", {}},
      {"--per-destination-budget", "per_destination_budget", "RATE|off", "Reports per second to any one address (default 1)", {}},
      {"--per-destination-burst", "per_destination_burst", "N", "Burst of the per-destination budget (default 3)", {}},
      {"--allow-destination", "allow", "CIDR", "Allow sending to this special-purpose block (private, loopback, ...; repeatable)", {}},
      {"--deny-destination", "deny", "CIDR", "Never send to this block (repeatable; beats --allow-destination)", {}},
      {"--opt-out-file", "opt_out_file", "FILE", "Never send to the prefixes in FILE (one CIDR per line, # comments)", {}},
  };
  for (auto& f : delivery_flags) {
    f.option = app.add_option(f.flag, f.values, f.help)->type_name(f.type)->group("Delivery (opt-in; safety limits on by default)");
    const std::string_view setting = f.key;
    f.option->expected(1);  // one value per occurrence; lists repeat the flag
    const bool list = setting == "allow" || setting == "deny" || setting == "source_address" || setting == "deliver" ||
                      setting == "own_address";
    f.option->multi_option_policy(list ? CLI::MultiOptionPolicy::TakeAll : CLI::MultiOptionPolicy::TakeLast);
  }
  bool https_verify = false;
  auto* opt_https_verify = app.add_flag("--https-verify", https_verify,
                                        "Check HTTPS certificates (chain and IP address); off by default: reports go to bare "
                                        "addresses and are signed")
                               ->group("Delivery (opt-in; safety limits on by default)");

  auto* keygen = app.add_subcommand("keygen", "Create a signing key file (mode 0600) and print its public key");
  std::string keygen_path;
  keygen->add_option("path", keygen_path, "Where to write the key")->required();

  auto* pubkey = app.add_subcommand("pubkey", "Print the public key of a key file");
  std::string pubkey_path;
  pubkey->add_option("path", pubkey_path, "The key file")->required();

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

  auto* receive = overflowd::receive::add_receive_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(e.what());
    return kExitUsage;
  }

  if (overflowd::receive::chosen(receive)) return overflowd::receive::run(receive);
  if (*keygen) return cmd_keygen(keygen_path);
  if (*pubkey) return cmd_pubkey(pubkey_path);
  if (*verify) return cmd_verify(verify_path);
  if (*replay) return cmd_replay(replay_args);
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

  RunConfig config;
  if (!config_file.empty()) {
    if (auto r = load_toml(config_file, config); !r) {
      print_error(r.error());
      return kExitUsage;
    }
  }
  if (*opt_file) config.pcap_file = file;
  if (*opt_udp) {
    auto port = parse_port("--udp-port", udp_port);
    if (!port) {
      print_error(port.error());
      return kExitUsage;
    }
    config.udp.port = *port;
    config.pcap_file.clear();
  }
  if (*opt_rate) {
    auto r = parse_rate(rate);
    if (!r) {
      print_error(r.error());
      return kExitUsage;
    }
    config.sampler.rate = *r;
  }
  if (*opt_seed) {
    std::uint64_t s = 0;
    const auto res = std::from_chars(seed.data(), seed.data() + seed.size(), s);
    if (seed.empty() || res.ec != std::errc{} || res.ptr != seed.data() + seed.size()) {
      print_error("--seed: '" + seed + "' is not a whole number");
      return kExitUsage;
    }
    config.sampler.seed = s;
  }
  if (*opt_key) config.key_path = key;
  if (*opt_email) config.contact.email = email;
  if (*opt_identity) config.contact.identity = identity;
  if (*opt_output) config.output_file = output;
  if (*opt_bind) config.udp.bind = bind;
  if (*opt_quiet) config.quiet = quiet;
  if (*opt_workers) {
    auto w = parse_workers("--workers", workers);
    if (!w) {
      print_error(w.error());
      return kExitUsage;
    }
    config.workers = *w;
  }
  if (*opt_receive_buffer) {
    auto b = parse_receive_buffer("--receive-buffer", receive_buffer);
    if (!b) {
      print_error(b.error());
      return kExitUsage;
    }
    config.udp.receive_buffer = *b;
  }
  for (auto& f : delivery_flags) {
    if (!*f.option) continue;
    clear_delivery_option(config, f.key);
    for (const auto& v : f.values) {
      if (auto r = set_delivery_option(config, f.key, v, f.flag); !r) {
        print_error(r.error());
        return kExitUsage;
      }
    }
  }
  if (*opt_https_verify) config.delivery.http_sender.verify = https_verify;
  return cmd_run(config);
}
