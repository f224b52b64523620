// Image import throughput: `lockstep import images` (io::import_images:
// decode, block writes to HDF5 with gzip 1 on 1 and T threads, and without
// compression) against a plain sequential decode loop of the same files with
// the same libraries (libpng, TurboJPEG), in the same run, alternating. Writes a folder of N PNG
// and JPEG images (two class folders) first when given --make. Usage: bench_image_import DIR
// [--make N SIZE] [--threads T] [--reps R]

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/image_codec.hpp"
#include "io/image_import.hpp"

namespace fs = std::filesystem;
using lockstep::io::decode_image;
using lockstep::io::read_file_bytes;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void make_folder(const std::string& dir, int n, int size) {
  std::vector<uint8_t> rgb(static_cast<size_t>(size * size * 3));
  tjhandle tj = tjInitCompress();
  for (int i = 0; i < n; ++i) {
    for (size_t j = 0; j < rgb.size(); ++j)
      rgb[j] =
          static_cast<uint8_t>((j * 7 + static_cast<size_t>(i) * 13 + (j / 97) * (j % 5)) % 256);
    const std::string cls = dir + (i % 2 ? "/b" : "/a");
    fs::create_directories(cls);
    const std::string path = cls + "/" + std::to_string(i) + (i % 4 < 2 ? ".png" : ".jpg");
    if (i % 4 < 2) {
      png_image image;
      std::memset(&image, 0, sizeof(image));
      image.version = PNG_IMAGE_VERSION;
      image.width = image.height = static_cast<png_uint_32>(size);
      image.format = PNG_FORMAT_RGB;
      png_image_write_to_file(&image, path.c_str(), 0, rgb.data(), 0, nullptr);
    } else {
      unsigned char* out = nullptr;
      unsigned long bytes = 0;
      tjCompress2(tj, rgb.data(), size, 0, size, TJPF_RGB, &out, &bytes, TJSAMP_420, 90, 0);
      std::ofstream(path, std::ios::binary)
          .write(reinterpret_cast<char*>(out), static_cast<std::streamsize>(bytes));
      tjFree(out);
    }
  }
  tjDestroy(tj);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [--make N SIZE] [--threads T] [--reps R]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  int threads = 0, reps = 3;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--make" && i + 2 < argc) {
      make_folder(dir, std::atoi(argv[i + 1]), std::atoi(argv[i + 2]));
      i += 2;
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    }
  }
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && lockstep::io::is_image_file(e.path().string()))
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  const std::string out = (fs::temp_directory_path() / "bench_image_import.h5").string();
  std::vector<double> plain, one, many, raw;
  for (int r = 0; r < reps; ++r) {  // alternating, best of reps
    double t0 = now();
    size_t checksum = 0;
    for (const auto& f : files) checksum += decode_image(f, read_file_bytes(f), 3).pixels[0];
    plain.push_back(static_cast<double>(files.size()) / (now() - t0));
    lockstep::io::ImageImportOptions o;
    o.root = dir;
    o.out = out;
    o.channels = 3;
    o.threads = 1;
    t0 = now();
    lockstep::io::import_images(o);
    one.push_back(static_cast<double>(files.size()) / (now() - t0));
    o.threads = threads;
    t0 = now();
    const auto rep = lockstep::io::import_images(o);
    many.push_back(static_cast<double>(files.size()) / (now() - t0));
    o.gzip = 0;
    t0 = now();
    lockstep::io::import_images(o);
    raw.push_back(static_cast<double>(files.size()) / (now() - t0));
    std::printf(
        "rep %d: plain decode %.0f images/s; import gzip 1: 1 thread %.0f, %d threads %.0f; "
        "import gzip 0, %d threads %.0f (checksum %zu)\n",
        r, plain.back(), one.back(), rep.threads, many.back(), rep.threads, raw.back(), checksum);
  }
  fs::remove(out);
  const auto best = [](const std::vector<double>& v) {
    return *std::max_element(v.begin(), v.end());
  };
  std::printf(
      "files %zu\nplain_decode_images_per_s %.0f\nimport_1_thread_images_per_s %.0f\n"
      "import_threads_images_per_s %.0f\nimport_threads_gzip0_images_per_s %.0f\n"
      "ratio_import_1_thread_over_plain %.2f\nratio_import_threads_over_plain %.2f\n"
      "ratio_import_threads_gzip0_over_plain %.2f\n",
      files.size(), best(plain), best(one), best(many), best(raw), best(one) / best(plain),
      best(many) / best(plain), best(raw) / best(plain));
  return 0;
}
