// Writes checkpoints in a loop until killed, as a training run would: the
// checkpoint test kills it (SIGKILL) at random moments and checks what is left.
//   checkpoint_writer DIR
// Once started it creates DIR/writer.ready. It continues after the step `latest` names; the
// parameters of step s are writer_value(s, i) (tests/trainer/checkpoint_writer.hpp).

#include <cstdio>

#include "tests/trainer/checkpoint_writer.hpp"
#include "trainer/checkpoint.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: checkpoint_writer DIR\n");
    return 2;
  }
  using namespace lockstep;
  trainer::CheckpointOptions options;
  options.dir = argv[1];
  options.keep = 3;
  try {
    const trainer::FoundCheckpoint latest = trainer::load_latest_checkpoint(options.dir);
    int64_t step = latest.path.empty() ? 0 : latest.model.training->step;
    // Started (libraries loaded, latest read): the test's random delay counts
    // from here, whatever the start-up took.
    if (std::FILE* ready = std::fopen((options.dir + "/writer.ready").c_str(), "w"))
      std::fclose(ready);
    for (;;) trainer::write_checkpoint(options, test::writer_checkpoint(++step));
  } catch (const Error& e) {
    std::fprintf(stderr, "checkpoint_writer: %s\n", e.what());
    return 1;
  }
}
