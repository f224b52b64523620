#pragma once
// The subcommands of the lockstep executable. Each takes the arguments after
// its name and returns the process exit code; errors are thrown.

namespace lockstep::comm {
class MpiSession;
}

namespace lockstep::launch {

int run_train(int argc, char** argv, comm::MpiSession& mpi);
int run_eval(int argc, char** argv, comm::MpiSession& mpi);
int run_predict(int argc, char** argv, comm::MpiSession& mpi);
int run_sweep(int argc, char** argv, comm::MpiSession& mpi);
int run_cv(int argc, char** argv, comm::MpiSession& mpi);
/// lockstep comm-bench (cmd_comm_bench.cpp): all-reduce timings over MPI.
int run_comm_bench(int argc, char** argv, comm::MpiSession& mpi);
int run_import(int argc, char** argv);
int run_export(int argc, char** argv);
/// lockstep import onnx (cmd_onnx.cpp); argv[0] is "onnx".
int import_onnx(int argc, char** argv);
int run_inspect(int argc, char** argv);
int run_datagen(int argc, char** argv);

}  // namespace lockstep::launch
