// Host layout and placement on CPU ranks (comm/mpi.hpp HostLayout,
// comm/placement.hpp). "Same host" comes from MPI's shared-memory split, not
// from host names: on this machine every rank is on one host; splits of
// MPI_COMM_WORLD play several hosts (all with the same host name, as in
// containers), whose local ranks, counts and host indices must come out right.

#include <gtest/gtest.h>
#include <mpi.h>

#include <string>

#include "comm/mpi.hpp"
#include "comm/placement.hpp"

namespace lockstep::comm {
namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

HostLayout layout_of_split(int color) {
  MPI_Comm local = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, color, world_rank(), &local);
  const HostLayout h = host_layout(MPI_COMM_WORLD, local);
  MPI_Comm_free(&local);
  return h;
}

TEST(HostLayout, OneMachineIsOneHost) {
  MpiSession mpi(nullptr, nullptr);  // MPI is up already: the session only looks
  EXPECT_EQ(mpi.local_rank(), world_rank());
  EXPECT_EQ(mpi.local_size(), world_size());
  EXPECT_EQ(mpi.layout().host, 0);
  EXPECT_EQ(mpi.layout().hosts, 1);
}

TEST(HostLayout, InterleavedHosts) {  // ranks 0,2,.. on host 0; 1,3,.. on host 1
  const int r = world_rank(), n = world_size();
  const HostLayout h = layout_of_split(r % 2);
  EXPECT_EQ(h.local_rank, r / 2);
  EXPECT_EQ(h.local_size, r % 2 == 0 ? (n + 1) / 2 : n / 2);
  EXPECT_EQ(h.host, r % 2);
  EXPECT_EQ(h.hosts, n >= 2 ? 2 : 1);
}

TEST(HostLayout, OneRankPerHost) {
  const HostLayout h = layout_of_split(world_rank());
  EXPECT_EQ(h.local_rank, 0);
  EXPECT_EQ(h.local_size, 1);
  EXPECT_EQ(h.host, world_rank());
  EXPECT_EQ(h.hosts, world_size());
}

TEST(HostLayout, HostsNumberedByTheirLowestRank) {  // colors in reverse order
  const int r = world_rank(), n = world_size();
  const HostLayout h = layout_of_split(n - 1 - r / 2);
  EXPECT_EQ(h.host, r / 2);
  EXPECT_EQ(h.local_rank, r % 2);
  EXPECT_EQ(h.hosts, (n + 1) / 2);
}

TEST(Placement, CpuRanksDescribeTheirHostAndLocalRank) {
  const int r = world_rank(), n = world_size();
  MpiCommunicator comm;
  const HostLayout h = layout_of_split(r % 2);
  const Placement p = place_rank(h, comm, DeviceRequest::kCpu, false);
  EXPECT_FALSE(p.gpu);
  EXPECT_EQ(p.local_rank, r / 2);
  EXPECT_EQ(p.host_index, r % 2);
  const std::string expected =
      "(host " + std::to_string(r % 2) + "/" + std::to_string(n >= 2 ? 2 : 1) + ", local rank " +
      std::to_string(r / 2) + "/" + std::to_string(h.local_size) + "): CPU";
  EXPECT_NE(p.description.find(expected), std::string::npos) << p.description;
  EXPECT_EQ(p.description.rfind("rank " + std::to_string(r) + " on ", 0), 0u) << p.description;
}

// Two hosts with the same name and a GPU at the same bus id are two GPUs.
TEST(Placement, DeviceKeyIsHostIndexAndBusNotHostName) {
  EXPECT_NE(device_key(0, "0000:3B:00.0"), device_key(1, "0000:3B:00.0"));
  EXPECT_EQ(device_key(1, "0000:3B:00.0"), device_key(1, "0000:3B:00.0"));
  EXPECT_NE(device_key(1, "0000:3B:00.0"), device_key(1, "0000:3C:00.0"));
}

}  // namespace
}  // namespace lockstep::comm
