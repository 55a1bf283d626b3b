import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "smol-toml";
import type { ConfigProblem } from "./types.js";
import { validateConfig } from "./validate.js";

const ENV = { HOME: "/home/ada" };

function problemsOf(text: string, env: Record<string, string>): ConfigProblem[] {
  const r = validateConfig(parse(text), env);
  assert.equal(r.config, null, "a config with problems must not resolve");
  return r.problems;
}

/** [what, TOML, exact field path, message fragment, env?] */
type Case = [string, string, string, RegExp, Record<string, string>?];

const INVALID: Case[] = [
  [
    "unknown top-level key",
    'log_levl = "info"',
    "log_levl",
    /unknown key "log_levl" \(did you mean "log_level"\?\)/,
  ],
  [
    "unknown key in a table",
    '[network]\nbrige = "x"',
    "network.brige",
    /unknown key "brige" \(did you mean "bridge"\?\)/,
  ],
  ["unknown key with no near match", "colour = 1", "colour", /^unknown key "colour"$/],
  ["table key at the top level", 'subnet = "10.0.0.0/24"', "subnet", /belongs in the \[network\] table/],
  ["top-level key in a table", '[network]\nvmm = "qemu"', "network.vmm", /belongs at the top level/],
  ["log_level wrong value", 'log_level = "verbose"', "log_level", /expected one of "trace", .*got "verbose"/],
  ["log_level wrong type", "log_level = 3", "log_level", /expected one of .* got 3 \(an integer\)/],
  ["vmm near miss", 'vmm = "qemuu"', "vmm", /did you mean "qemu"\?/],
  ["firecracker_bin relative", 'firecracker_bin = "bin/fc"', "firecracker_bin", /not an absolute path/],
  ["qemu_bin ~user", 'qemu_bin = "~bob/qemu"', "qemu_bin", /not an absolute path/],
  ["qemu_bin wrong type", "qemu_bin = true", "qemu_bin", /expected a string, got true \(a boolean\)/],
  [
    "ssh_key_path relative",
    'ssh_key_path = "id_ed25519"',
    "ssh_key_path",
    /"id_ed25519" is not an absolute path/,
  ],
  ["ssh_key_path empty", 'ssh_key_path = ""', "ssh_key_path", /must not be empty/],
  ["ssh_key_path with ~ and no HOME", 'ssh_key_path = "~/k"', "ssh_key_path", /HOME is not set/, {}],
  [
    "default_image_name uppercase",
    'default_image_name = "Debian"',
    "default_image_name",
    /not a valid image name/,
  ],
  ["default_image_name too long", `default_image_name = "${"a".repeat(64)}"`, "default_image_name", /1-63/],
  [
    "default_image_name leading dash",
    'default_image_name = "-x"',
    "default_image_name",
    /starting and ending/,
  ],
  ["stats_poll_interval malformed", 'stats_poll_interval = "5 sec"', "stats_poll_interval", /not a duration/],
  [
    "stats_poll_interval too short",
    'stats_poll_interval = "500ms"',
    "stats_poll_interval",
    /500ms is out of range: use a duration from 1s to 1h/,
  ],
  ["stats_poll_interval too long", 'stats_poll_interval = "2h"', "stats_poll_interval", /2h is out of range/],
  [
    "stats_poll_interval wrong type",
    "stats_poll_interval = true",
    "stats_poll_interval",
    /expected a duration .* got true/,
  ],
  ["image_catalog_url not a URL", 'image_catalog_url = "example.org/x"', "image_catalog_url", /is not a URL/],
  [
    "kernel_catalog_url bad scheme",
    'kernel_catalog_url = "ftp://x/y"',
    "kernel_catalog_url",
    /uses ftp: only http/,
  ],
  ["network wrong type", 'network = "banger0"', "network", /expected a table \(\[network\]\), got "banger0"/],
  [
    "bridge too long",
    '[network]\nbridge = "a-very-long-bridge"',
    "network.bridge",
    /18 characters: an interface name has 1 to 15/,
  ],
  ["bridge empty", '[network]\nbridge = ""', "network.bridge", /0 characters/],
  ["bridge with slash", '[network]\nbridge = "br/0"', "network.bridge", /no "\/", ":" or whitespace/],
  ["bridge with colon", '[network]\nbridge = "br:0"', "network.bridge", /not a valid interface name/],
  ["bridge with space", '[network]\nbridge = "br 0"', "network.bridge", /not a valid interface name/],
  ["subnet not CIDR", '[network]\nsubnet = "172.30.0.0"', "network.subnet", /not an IPv4 CIDR/],
  ["subnet bad octet", '[network]\nsubnet = "172.300.0.0/24"', "network.subnet", /not an IPv4 CIDR/],
  [
    "subnet prefix too short",
    '[network]\nsubnet = "10.0.0.0/8"',
    "network.subnet",
    /prefix \/8 is out of range: use \/16 to \/29/,
  ],
  ["subnet prefix too long", '[network]\nsubnet = "10.0.0.0/30"', "network.subnet", /\/30 is out of range/],
  [
    "subnet host bits",
    '[network]\nsubnet = "172.30.0.5/24"',
    "network.subnet",
    /not a network address.*did you mean "172\.30\.0\.0\/24"/,
  ],
  [
    "subnet host bits /20",
    '[network]\nsubnet = "10.1.17.0/20"',
    "network.subnet",
    /did you mean "10\.1\.16\.0\/20"/,
  ],
  [
    "nat as string",
    '[network]\nnat = "yes"',
    "network.nat",
    /expected true or false, got "yes" \(a string\)/,
  ],
  [
    "tap_pool_size too big",
    "[network]\ntap_pool_size = 65",
    "network.tap_pool_size",
    /65 is out of range: use an integer from 0 to 64/,
  ],
  ["tap_pool_size negative", "[network]\ntap_pool_size = -1", "network.tap_pool_size", /out of range/],
  [
    "tap_pool_size float",
    "[network]\ntap_pool_size = 1.5",
    "network.tap_pool_size",
    /expected an integer from 0 to 64, got 1\.5 \(a float\)/,
  ],
  ["egress unknown", '[network]\negress = "open"', "network.egress", /"open" is not an egress policy/],
  ["egress allow empty", '[network]\negress = "allow="', "network.egress", /not an egress policy/],
  ["guest_dns_port privileged", "[network]\nguest_dns_port = 53", "network.guest_dns_port", /out of range/],
  [
    "upstream_dns not an address",
    '[network]\nupstream_dns = ["dns.google"]',
    "network.upstream_dns",
    /"dns.google" \(a string\) is not an IPv4 address/,
  ],
  ["dns listen no port", '[dns]\nlisten = "127.0.0.1"', "dns.listen", /not an IPv4 address and port/],
  [
    "dns listen port 0",
    '[dns]\nlisten = "127.0.0.1:0"',
    "dns.listen",
    /port 0 is out of range: use 1 to 65535/,
  ],
  [
    "dns listen port too big",
    '[dns]\nlisten = "127.0.0.1:65536"',
    "dns.listen",
    /port 65536 is out of range/,
  ],
  ["dns listen hostname", '[dns]\nlisten = "localhost:53"', "dns.listen", /not an IPv4 address and port/],
  ["dns unknown key", "[dns]\nport = 53", "dns.port", /unknown key "port"/],
  [
    "vcpu zero",
    "[vm_defaults]\nvcpu = 0",
    "vm_defaults.vcpu",
    /0 is out of range: use an integer from 1 to 64/,
  ],
  ["vcpu too many", "[vm_defaults]\nvcpu = 65", "vm_defaults.vcpu", /out of range/],
  [
    "vcpu string",
    '[vm_defaults]\nvcpu = "2"',
    "vm_defaults.vcpu",
    /expected an integer from 1 to 64, got "2" \(a string\)/,
  ],
  [
    "memory too small",
    '[vm_defaults]\nmemory = "64M"',
    "vm_defaults.memory",
    /64M is below the minimum of 128M/,
  ],
  ["memory too big", '[vm_defaults]\nmemory = "2T"', "vm_defaults.memory", /2T is above the maximum of 1T/],
  [
    "memory not whole MiB",
    '[vm_defaults]\nmemory = "1000.5M"',
    "vm_defaults.memory",
    /not a whole number of MiB/,
  ],
  ["memory malformed", '[vm_defaults]\nmemory = "lots"', "vm_defaults.memory", /"lots" is not a size/],
  [
    "memory float",
    "[vm_defaults]\nmemory = 512.5",
    "vm_defaults.memory",
    /expected an integer number of MiB .* got 512\.5 \(a float\)/,
  ],
  [
    "memory boolean",
    "[vm_defaults]\nmemory = true",
    "vm_defaults.memory",
    /expected a size string like "2G" .* got true/,
  ],
  [
    "disk_size too small",
    '[vm_defaults]\ndisk_size = "32M"',
    "vm_defaults.disk_size",
    /32M is below the minimum of 64M/,
  ],
  ["logs.max_size too small", '[logs]\nmax_size = "4K"', "logs.max_size", /4K is below the minimum of 64K/],
  ["logs.max_size too large", '[logs]\nmax_size = "2G"', "logs.max_size", /2G is above the maximum of 1G/],
  ["logs.max_size not a size", '[logs]\nmax_size = "lots"', "logs.max_size", /lots/],
  ["logs.keep zero", "[logs]\nkeep = 0", "logs.keep", /0/],
  ["logs.keep not a number", '[logs]\nkeep = "two"', "logs.keep", /two/],
  ["logs unknown key", "[logs]\nmax = 1", "logs.max", /unknown key "max"/],
  ["logs not a table", "logs = 3", "logs", /expected a table \(\[logs\]\)/],
  ["vm_defaults unknown key", "[vm_defaults]\ncpus = 2", "vm_defaults.cpus", /unknown key "cpus"/],
  ["file_sync not an array", 'file_sync = "x"', "file_sync", /expected \[\[file_sync\]\] entries/],
  [
    "file_sync entry not a table",
    "file_sync = [1]",
    "file_sync[0]",
    /expected a table with host and guest, got 1/,
  ],
  ["file_sync missing host", '[[file_sync]]\nguest = "~/x"', "file_sync[0].host", /missing/],
  ["file_sync missing guest", '[[file_sync]]\nhost = "/x"', "file_sync[0].guest", /missing/],
  [
    "file_sync unknown key",
    '[[file_sync]]\nhost = "/x"\nguest = "~/x"\nmod = "0644"',
    "file_sync[0].mod",
    /did you mean "mode"\?/,
  ],
  [
    "file_sync host empty",
    '[[file_sync]]\nhost = ""\nguest = "~/x"',
    "file_sync[0].host",
    /must not be empty/,
  ],
  [
    "file_sync host relative",
    '[[file_sync]]\nhost = "x/y"\nguest = "~/x"',
    "file_sync[0].host",
    /"x\/y" is relative/,
  ],
  [
    "file_sync host dotdot",
    '[[file_sync]]\nhost = "~/a/../b"\nguest = "~/x"',
    "file_sync[0].host",
    /contains a "\.\." segment/,
  ],
  [
    "file_sync host ~user",
    '[[file_sync]]\nhost = "~bob/x"\nguest = "~/x"',
    "file_sync[0].host",
    /~user paths are not supported/,
  ],
  [
    "file_sync host NUL",
    '[[file_sync]]\nhost = "/a\\u0000b"\nguest = "~/x"',
    "file_sync[0].host",
    /NUL byte/,
  ],
  [
    "file_sync host wrong type",
    '[[file_sync]]\nhost = 5\nguest = "~/x"',
    "file_sync[0].host",
    /expected a string, got 5/,
  ],
  [
    "file_sync guest outside /root",
    '[[file_sync]]\nhost = "/x"\nguest = "/etc/x"',
    "file_sync[0].guest",
    /outside \/root/,
  ],
  [
    "file_sync guest /root itself",
    '[[file_sync]]\nhost = "/x"\nguest = "/root"',
    "file_sync[0].guest",
    /whole work disk/,
  ],
  [
    "file_sync guest /root/",
    '[[file_sync]]\nhost = "/x"\nguest = "/root/"',
    "file_sync[0].guest",
    /whole work disk/,
  ],
  [
    "file_sync guest ~ alone",
    '[[file_sync]]\nhost = "/x"\nguest = "~"',
    "file_sync[0].guest",
    /whole work disk/,
  ],
  [
    "file_sync guest ~/ alone",
    '[[file_sync]]\nhost = "/x"\nguest = "~/"',
    "file_sync[0].guest",
    /whole work disk/,
  ],
  [
    "file_sync guest /rootx",
    '[[file_sync]]\nhost = "/x"\nguest = "/rootx/y"',
    "file_sync[0].guest",
    /outside \/root/,
  ],
  [
    "file_sync guest relative",
    '[[file_sync]]\nhost = "/x"\nguest = ".bashrc"',
    "file_sync[0].guest",
    /relative/,
  ],
  [
    "file_sync guest dotdot",
    '[[file_sync]]\nhost = "/x"\nguest = "~/../etc/passwd"',
    "file_sync[0].guest",
    /"\.\." segment/,
  ],
  [
    "file_sync guest ~user",
    '[[file_sync]]\nhost = "/x"\nguest = "~root/x"',
    "file_sync[0].guest",
    /~user paths/,
  ],
  [
    "file_sync guest empty",
    '[[file_sync]]\nhost = "/x"\nguest = ""',
    "file_sync[0].guest",
    /must not be empty/,
  ],
  [
    "file_sync mode malformed",
    '[[file_sync]]\nhost = "/x"\nguest = "~/x"\nmode = "0999"',
    "file_sync[0].mode",
    /"0999" is not an octal file mode/,
  ],
  [
    "file_sync mode too long",
    '[[file_sync]]\nhost = "/x"\nguest = "~/x"\nmode = "00644"',
    "file_sync[0].mode",
    /not an octal file mode/,
  ],
  [
    "file_sync mode symbolic",
    '[[file_sync]]\nhost = "/x"\nguest = "~/x"\nmode = "rw-r--r--"',
    "file_sync[0].mode",
    /not an octal/,
  ],
  [
    "file_sync mode integer",
    '[[file_sync]]\nhost = "/x"\nguest = "~/x"\nmode = 644',
    "file_sync[0].mode",
    /got 644 \(an integer\) \(write it as a string: mode = "0644"\)/,
  ],
  [
    "file_sync duplicate guest",
    '[[file_sync]]\nhost = "/a"\nguest = "~/x"\n[[file_sync]]\nhost = "/b"\nguest = "/root/x"',
    "file_sync[1].guest",
    /already the guest of file_sync\[0\]/,
  ],
  [
    "file_sync host ~ without HOME",
    '[[file_sync]]\nhost = "~/x"\nguest = "~/x"',
    "file_sync[0].host",
    /HOME is not set/,
    {},
  ],
];

describe("validateConfig: every invalid shape", () => {
  for (const [what, toml, path, fragment, env] of INVALID) {
    it(`${what}: ${path}`, () => {
      const problems = problemsOf(toml, env ?? ENV);
      assert.deepEqual(
        problems.map((p) => p.path),
        [path],
        `expected exactly one problem at ${path}, got ${JSON.stringify(problems)}`,
      );
      assert.match(problems[0]?.message ?? "", fragment);
    });
  }

  it("a non-table root is one problem", () => {
    const { config, problems } = validateConfig([1, 2], ENV);
    assert.equal(config, null);
    assert.deepEqual(problems, [{ path: "(root)", message: "expected a table of settings, got an array" }]);
  });
});
