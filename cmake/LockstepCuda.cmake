# Finds nvcc, the CUDA toolkit (cudart, cuBLAS) and NCCL; sets LOCKSTEP_HAVE_CUDA
# and the imported target NCCL::NCCL. Then cuDNN (LOCKSTEP_CUDNN, on by
# default): sets LOCKSTEP_HAVE_CUDNN and the imported target CUDNN::cudnn when
# cudnn.h and libcudnn are found next to the toolkit. The CUDA toolkit usually
# lives in /usr/local/cuda, which is not on the PATH of a fresh shell.
set(LOCKSTEP_HAVE_CUDA OFF)
set(LOCKSTEP_HAVE_CUDNN OFF)
option(LOCKSTEP_CUDNN "GPU convolutions through cuDNN when it is found (else im2col + cuBLAS)" ON)
if(NOT LOCKSTEP_CUDA)
  message(STATUS "lockstep: CUDA backend off (LOCKSTEP_CUDA=OFF)")
  return()
endif()
if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(STATUS "lockstep: nvcc not found: building the CPU backend only")
  return()
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
endif()
enable_language(CUDA)
# CMake 3.25 does not know that nvcc 13 supports C++20: tell it the flag.
if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
find_package(CUDAToolkit REQUIRED)
get_filename_component(_cuda_root "${CUDAToolkit_BIN_DIR}" DIRECTORY)
find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ${_cuda_root}/include
          PATH_SUFFIXES include)
find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ${_cuda_root}/lib64 ${_cuda_root}/lib)
if(NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
  message(WARNING "lockstep: nvcc found but NCCL not found: building the CPU backend only")
  return()
endif()
add_library(NCCL::NCCL UNKNOWN IMPORTED)
set_target_properties(NCCL::NCCL PROPERTIES IMPORTED_LOCATION "${NCCL_LIBRARY}"
                      INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
set(LOCKSTEP_HAVE_CUDA ON)
message(STATUS "lockstep: CUDA backend on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, archs ${CMAKE_CUDA_ARCHITECTURES}, NCCL ${NCCL_LIBRARY})")

# cuDNN 9 (cudnn.h with CUDNN_MAJOR >= 8: the legacy convolution API with
# cudnnGet*Algorithm_v7 and CUDNN_DATA_BFLOAT16). Without it the GPU
# convolutions are im2col + cuBLAS (core/ops/conv.cu), which also stays as the
# runtime-selectable reference (ops::set_conv_backend).
if(LOCKSTEP_CUDNN)
  find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ${_cuda_root}/include
            PATH_SUFFIXES include)
  find_library(CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} ${_cuda_root}/lib64 ${_cuda_root}/lib)
  set(_cudnn_major 0)
  if(CUDNN_INCLUDE_DIR)
    foreach(_h cudnn_version.h cudnn.h)
      if(EXISTS "${CUDNN_INCLUDE_DIR}/${_h}" AND _cudnn_major EQUAL 0)
        file(STRINGS "${CUDNN_INCLUDE_DIR}/${_h}" _line REGEX "^#define CUDNN_MAJOR [0-9]+")
        if(_line)
          string(REGEX REPLACE "^#define CUDNN_MAJOR ([0-9]+).*" "\\1" _cudnn_major "${_line}")
        endif()
      endif()
    endforeach()
  endif()
  if(CUDNN_INCLUDE_DIR AND CUDNN_LIBRARY AND _cudnn_major GREATER_EQUAL 8)
    add_library(CUDNN::cudnn UNKNOWN IMPORTED)
    set_target_properties(CUDNN::cudnn PROPERTIES IMPORTED_LOCATION "${CUDNN_LIBRARY}"
                          INTERFACE_INCLUDE_DIRECTORIES "${CUDNN_INCLUDE_DIR}")
    set(LOCKSTEP_HAVE_CUDNN ON)
    message(STATUS "lockstep: GPU convolutions through cuDNN ${_cudnn_major} (${CUDNN_LIBRARY}); im2col + cuBLAS selectable at run time")
  else()
    message(STATUS "lockstep: cuDNN (>= 8) not found: GPU convolutions through im2col + cuBLAS")
  endif()
else()
  message(STATUS "lockstep: cuDNN off (LOCKSTEP_CUDNN=OFF): GPU convolutions through im2col + cuBLAS")
endif()

function(lockstep_cuda_target target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr>)
endfunction()
