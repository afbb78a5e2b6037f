// The variant flags --torch, --cuda, --arch and --os, one definition for every
// command that takes them (resolve, bundle, verify: a fleet filter; variants:
// one environment). Each flag is repeatable and takes comma lists:
// `--torch 2.10,2.11` is `--torch 2.10 --torch 2.11`; empty items are ignored.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "kernel_lock/core/variant.hpp"

namespace kernel_lock::cli {

struct FilterFlags {
  std::vector<std::string> torch, cuda, arch, os;

  // The flags as a fleet filter, comma lists split (VariantFilter's rules).
  VariantFilter filter() const;
  // For one environment: the single value given for `flag` ("--torch"), none
  // when absent. Throws Error(usage) when the flag lists several values.
  static std::optional<std::string> single(const std::vector<std::string>& values, std::string_view flag);
};

// How the flags' help reads: "Only variants for ..." or "The environment's ...".
enum class FilterRole { fleet, environment };

// Registers --torch, --cuda, --arch and --os on `cmd`, filling `flags`.
void add_filter_flags(CLI::App* cmd, FilterFlags& flags, FilterRole role = FilterRole::fleet);

// "2.10,2.11" and repeated flags as one list, empty items dropped.
std::vector<std::string> split_list(const std::vector<std::string>& values);

}  // namespace kernel_lock::cli
