import { MemoryStore } from '../../../src/adapters/store/memory-store.js';
import { storeContract } from './store-contract.js';

storeContract('MemoryStore', { open: async (clock) => new MemoryStore({ clock }) });
