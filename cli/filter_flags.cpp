#include "filter_flags.hpp"

#include "kernel_lock/core/error.hpp"

namespace kernel_lock::cli {

std::vector<std::string> split_list(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    std::size_t start = 0;
    while (start <= v.size()) {
      auto comma = v.find(',', start);
      auto item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) out.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

VariantFilter FilterFlags::filter() const {
  VariantFilter f;
  f.torch = split_list(torch);
  f.cuda = split_list(cuda);
  f.arch = split_list(arch);
  f.os = split_list(os);
  return f;
}

std::optional<std::string> FilterFlags::single(const std::vector<std::string>& values, std::string_view flag) {
  const auto items = split_list(values);
  if (items.empty()) return std::nullopt;
  if (items.size() > 1)
    throw Error(ErrorCode::usage, std::string(flag) + " takes one value here, got " + std::to_string(items.size()),
                "`variants` ranks names for one environment; run it once per environment");
  return items.front();
}

void add_filter_flags(CLI::App* cmd, FilterFlags& flags, FilterRole role) {
  struct Flag {
    const char* name;
    std::vector<std::string> FilterFlags::*values;
    const char* fleet_help;
    const char* environment_help;
  };
  static const Flag table[] = {
      {"--torch", &FilterFlags::torch, "Only variants for these torch versions (e.g. 2.10,2.11)",
       "Torch major.minor of the environment (default 2.11)"},
      {"--cuda", &FilterFlags::cuda, "Only variants for these CUDA versions (e.g. 12.8,13.0)",
       "CUDA major.minor of the environment (= --backend cuda --backend-version)"},
      {"--arch", &FilterFlags::arch, "Only variants for these CPU architectures (e.g. x86_64,aarch64)",
       "CPU architecture: x86_64, aarch64 (default: this machine)"},
      {"--os", &FilterFlags::os, "Only variants for these operating systems (e.g. linux)",
       "Operating system: linux, darwin, windows (default: this machine)"},
  };
  for (const auto& flag : table) {
    if (role == FilterRole::fleet) {
      // Takes every value up to the next flag ("--torch 2.10 2.11"), as before.
      cmd->add_option(flag.name, flags.*flag.values, std::string(flag.fleet_help) + "; repeatable, or a comma list");
    } else {
      // One value per use, so that the variant names after it stay positional.
      cmd->add_option(flag.name, flags.*flag.values, flag.environment_help)
          ->expected(1)
          ->allow_extra_args(false)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    }
  }
}

}  // namespace kernel_lock::cli
