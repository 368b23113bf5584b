import { Module } from '@nestjs/common';
import { ModelsModule } from '../models/models.module';
import { AdminKeyGuard } from './admin-key.guard';
import { VoicesAdminController } from './voices-admin.controller';
import { VoicesAdminService } from './voices-admin.service';

/** Voice management behind ADMIN_API_KEY: catalogue, download, removal. */
@Module({
  imports: [ModelsModule],
  controllers: [VoicesAdminController],
  providers: [VoicesAdminService, AdminKeyGuard],
})
export class AdminModule {}
