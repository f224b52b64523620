// lockstep: the executable. Dispatches subcommands, owns MPI, and turns any
// error into a clear line and a non-zero exit: an error all ranks agreed on is
// reported once by rank 0 with the ranks it applies to and ends the job
// cleanly; any other error is printed by its rank and aborts every rank so
// none is left waiting in a collective.

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "comm/mpi.hpp"
#include "launch/commands.hpp"

namespace {

constexpr const char* kUsage =
    "lockstep " LOCKSTEP_VERSION
    " - data-parallel training of neural networks\n"
    "\n"
    "Usage: lockstep <command> [options]      (run under mpirun/srun for several ranks)\n"
    "\n"
    "Commands:\n"
    "  train     train a model from an INI config (--config run.ini, --section.key value)\n"
    "  eval      evaluate a saved model on a dataset (--model final.h5 --data test.h5)\n"
    "  sweep     grid or random search over config keys (--grid optim.lr=0.01,0.1)\n"
    "  cv        k-fold cross-validation of a config (--folds 5)\n"
    "  predict   write a saved model's predictions (--model final.h5 --data x.csv --out p.csv)\n"
    "  import    convert data to a lockstep HDF5 dataset (import idx | import csv), or an ONNX\n"
    "            model to a lockstep model file (import onnx model.onnx --out model.h5)\n"
    "  export    write a saved model as ONNX (--model final.h5 --out model.onnx)\n"
    "  inspect   print the schema of a dataset or saved-model file\n"
    "  datagen   write a synthetic image-classification dataset of any size and shape\n"
    "  comm-bench time the gradient all-reduce between CPU ranks over message sizes\n"
    "            (latency and bandwidth for the scaling model; --sizes 4K,1M --grad-dtype bf16)\n"
    "\n"
    "Every command has --help.\n";

int world_rank() {
  int initialized = 0, finalized = 0, rank = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int initialized = 0, finalized = 0, size = 1;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

// Seconds the ranks wait for each other to report an error every rank has;
// a rank missing after that means they disagree, and the job is aborted.
constexpr double kReportTimeoutS = 10;

// One line per distinct message, printed by rank 0, with the ranks it applies
// to ("error on ranks 0-3: ..."); relayed errors ("rank 1 failed: ...") are
// left out, the failing rank's own line says it.
void report_collective_error(const std::string& command, const lockstep::comm::CollectiveError& e,
                             const lockstep::comm::MpiSession& mpi) {
  const std::string prefix = "lockstep " + command + ": ";
  std::string mine = e.origin() ? e.what() : "";
  if (e.origin() && mine.empty()) mine = "(no message)";
  std::vector<std::string> lines;
  if (mpi.world_size() == 1) {
    lines = lockstep::comm::error_report_lines(prefix, {e.origin() ? mine : e.what()});
  } else if (const auto all = lockstep::comm::gather_error_messages(mine, kReportTimeoutS)) {
    if (mpi.world_rank() == 0) {
      lines = lockstep::comm::error_report_lines(prefix, *all);
      if (lines.empty()) lines.push_back(prefix + "error on rank 0: " + e.what());
    }
  } else {
    std::fprintf(stderr, "%serror on rank %d: %s\n", prefix.c_str(), mpi.world_rank(), e.what());
    std::fflush(stderr);
    lockstep::comm::MpiSession::abort(e.exit_code());
  }
  for (const std::string& line : lines) std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::puts("lockstep " LOCKSTEP_VERSION);
    return 0;
  }
  const std::string command = argv[1];
  try {
    if (command == "import") return lockstep::launch::run_import(argc - 1, argv + 1);
    if (command == "export") return lockstep::launch::run_export(argc - 1, argv + 1);
    if (command == "inspect") return lockstep::launch::run_inspect(argc - 1, argv + 1);
    if (command == "datagen") return lockstep::launch::run_datagen(argc - 1, argv + 1);
    if (command == "train" || command == "eval" || command == "predict" || command == "sweep" ||
        command == "cv" || command == "comm-bench") {
      lockstep::comm::MpiSession mpi(&argc, &argv);
      try {
        if (command == "train") return lockstep::launch::run_train(argc - 1, argv + 1, mpi);
        if (command == "sweep") return lockstep::launch::run_sweep(argc - 1, argv + 1, mpi);
        if (command == "cv") return lockstep::launch::run_cv(argc - 1, argv + 1, mpi);
        if (command == "eval") return lockstep::launch::run_eval(argc - 1, argv + 1, mpi);
        if (command == "comm-bench")
          return lockstep::launch::run_comm_bench(argc - 1, argv + 1, mpi);
        return lockstep::launch::run_predict(argc - 1, argv + 1, mpi);
      } catch (const lockstep::comm::CollectiveError& e) {
        // Every rank has this error: rank 0 reports it once and every rank
        // leaves through MPI_Finalize (no abort banner).
        report_collective_error(command, e, mpi);
        return e.exit_code();
      } catch (const std::exception& e) {
        // Only this rank may know: end the whole job before MPI_Finalize could
        // wait for ranks that are blocked in a collective.
        std::fprintf(stderr, "lockstep %s: error on rank %d: %s\n", command.c_str(),
                     mpi.world_rank(), e.what());
        std::fflush(stderr);
        if (mpi.world_size() > 1) lockstep::comm::MpiSession::abort(1);
        return 1;
      }
    }
    std::fprintf(stderr, "lockstep: unknown command '%s'\n\n%s", command.c_str(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lockstep %s: error on rank %d: %s\n", command.c_str(), world_rank(),
                 e.what());
    std::fflush(stderr);
    if (world_size() > 1) lockstep::comm::MpiSession::abort(1);
    return 1;
  }
}
