// Edits saved-model files for the CLI tests, through io::load_model /
// io::save_model (so checksums stay valid):
//   model_tool drop-key IN OUT SECTION.KEY   the model with that line taken out
//                                            of its saved config (e.g. data.train)
//   model_tool drop-key IN OUT class_names   the model without its class names
//   model_tool class-names FILE              prints the class names it records

#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>

#include "io/model_file.hpp"

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  try {
    if (command == "drop-key" && argc == 5) {
      lockstep::io::SavedModel model = lockstep::io::load_model(argv[2]);
      const std::string key = argv[4];
      if (key == "class_names") {
        model.class_names.clear();
        lockstep::io::save_model(argv[3], model);
        return 0;
      }
      const size_t dot = key.find('.');
      if (dot == std::string::npos) throw std::runtime_error("expected SECTION.KEY, got " + key);
      std::string section = "[";
      section.append(key, 0, dot).append("]");
      const std::string name = key.substr(dot + 1);
      std::istringstream in(model.config);
      std::ostringstream out;
      std::string line, current;
      while (std::getline(in, line)) {
        if (!line.empty() && line[0] == '[') current = line;
        const bool drop = current == section && line.rfind(name + " =", 0) == 0;
        if (!drop) out << line << "\n";
      }
      model.config = out.str();
      lockstep::io::save_model(argv[3], model);
      return 0;
    }
    if (command == "class-names" && argc == 3) {
      for (const auto& n : lockstep::io::load_model(argv[2]).class_names)
        std::printf("%s\n", n.c_str());
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_tool: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: model_tool drop-key IN OUT SECTION.KEY | class-names FILE\n");
  return 2;
}
