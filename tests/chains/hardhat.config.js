// Hardhat Network for tests/chains/: chain id 31337, automining, nothing compiled.
module.exports = {
  networks: { hardhat: { chainId: 31337 } },
};
