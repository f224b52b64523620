#pragma once
// What `lockstep sweep` and `lockstep cv` share on the command line: the
// metric that ranks runs (--metric, --mode) and the output folder (--out).
// The runs themselves are trainer/tuning.hpp's.

#include <boost/program_options.hpp>
#include <string>

#include "comm/communicator.hpp"
#include "trainer/tuning.hpp"

namespace lockstep::launch {

/// --metric NAME --mode min|max|auto, and --out DIR.
void add_tuning_options(boost::program_options::options_description& desc, const char* default_out);

/// The metric from --metric / --mode for runs like `config` (trainer::choose_metric).
trainer::MetricChoice resolve_metric(const boost::program_options::variables_map& cli,
                                     const trainer::RunConfig& config);

/// --out, or (no --out) `<prefix>-<date>-<time>` named by rank 0; the same on every rank.
std::string output_dir(const boost::program_options::variables_map& cli, const std::string& prefix,
                       comm::Communicator& comm);

}  // namespace lockstep::launch
