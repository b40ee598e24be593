// overflowd: reads the flows a network's routers export, reports a random few (more of the
// heavier ones) to their endpoints, signed, so that victims of floods and spoofing learn who sees
// their traffic and whom to call.
#include <CLI/CLI.hpp>

#include <charconv>

#include "app/commands.hpp"
#include "app/config.hpp"
#include "receive/receiver.hpp"

using namespace overflowd::app;

int main(int argc, char** argv) {
  CLI::App app{"overflowd: signed reports on a random sample of your flows, sent to their endpoints.\n"
               "Reads NetFlow v5 from a capture file (-f) or live UDP (-u, the default: port 7777).\n"
               "Without a subcommand it runs the sender and prints one JSON report per line."};
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
  opt_file->excludes(opt_udp);

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
  if (*synth) return cmd_synth(synth_config);

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
  return cmd_run(config);
}
